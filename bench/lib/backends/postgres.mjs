/**
 * The PostgreSQL backend of the benchmark: a PostgreSQL 15 server from the Debian binaries
 * (test/env/postgres.mjs: initdb in a temporary directory, loopback, run as `nobody` when we are
 * root), started and stopped here, with pg_stat_statements to count the queries of the
 * candidates, and every implementation as child processes:
 *
 * - leader-elect (ours)                     bench/fixtures/ours-postgres.mjs
 * - advisory-lock (npm)                     bench/fixtures/advisory-lock-npm.mjs
 * - pg_try_advisory_lock, hand-written      bench/fixtures/pg-advisory-lock.mjs
 *
 * Observers (the observe scenario): ours only (bench/lib/observers.mjs); an advisory lock has no
 * holder to observe but pg_locks, which can only be polled.
 *
 * Candidates connect as the role `bench`; the harness's own queries (observers, counters) run as
 * the superuser and are not counted.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CandidateProcess, parseJsonLine } from '../candidate-process.mjs';
import { packageVersion } from '../machine.mjs';
import { ourObservers } from '../observers.mjs';
import { sleep } from '../stats.mjs';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const fixture = (name) => here(`../../fixtures/${name}`);
const LAUNCHER = here('../../../test/env/postgres.mjs');
const TABLE = 'bench_leases';
const BENCH_ROLE = 'bench';
const BENCH_PASSWORD = 'bench';

/**
 * After every follower reported that it follows (ours: it observed the leader with its watch
 * up; the hand-written peer: its first try found the lock held; the advisory-lock package: its
 * session waits in pg_locks), a short pause before the trial starts. The hand-written follower
 * polls every retryPeriod: its phase is part of what a handoff costs it.
 */
const SETTLE_MS = 50;

function parseFixture(line) {
  const e = parseJsonLine(line);
  return e ? { ...e, type: e.event } : null;
}

/** A timestamp written by a holder (RFC 3339, its wall clock) as a harness time. */
function wallToHarness(text) {
  const ms = Date.parse(text ?? '');
  return Number.isNaN(ms) ? null : ms - performance.timeOrigin;
}

/** The 64-bit key the hand-written peer derives from the election name. */
async function handWrittenKey(name) {
  const { createHash } = await import('node:crypto');
  return createHash('sha256').update(name).digest().readBigInt64LE(0);
}

/** advisory-lock npm: two int32 from the sha256 of the name (its strToKey). */
async function npmKey(name) {
  const { createHash } = await import('node:crypto');
  const buf = createHash('sha256').update(name).digest();
  return [buf.readInt32LE(0), buf.readInt32LE(4)];
}

/** The pg_locks row (classid, objid, objsubid) of an advisory lock, per implementation. */
async function lockCoordinates(impl, name) {
  if (impl.id === 'advisory-lock-npm') {
    const [k1, k2] = await npmKey(name);
    // pg_advisory_lock(int4, int4): classid = k1, objid = k2, objsubid = 2 (as oids: unsigned).
    return { classid: k1 >>> 0, objid: k2 >>> 0, objsubid: 2 };
  }
  const key = BigInt.asUintN(64, await handWrittenKey(name));
  // pg_advisory_lock(int8): classid = high 32 bits, objid = low 32 bits, objsubid = 1.
  return { classid: Number(key >> 32n), objid: Number(key & 0xffff_ffffn), objsubid: 1 };
}

/** A short name for a statement as pg_stat_statements normalises it. */
function statementKind(query) {
  const q = query.replace(/\s+/g, ' ').trim();
  if (/^UPDATE .*bench_leases/i.test(q)) return 'UPDATE lease';
  if (/^INSERT INTO .*bench_leases/i.test(q)) return 'INSERT lease';
  if (/^SELECT holder_identity.*FOR SHARE/i.test(q)) return 'SELECT … FOR SHARE';
  if (/^SELECT holder_identity/i.test(q)) return 'SELECT lease';
  if (/^SELECT to_regclass/i.test(q)) return 'schema check';
  if (/^LISTEN/i.test(q)) return 'LISTEN';
  if (/pg_try_advisory_lock/i.test(q)) return 'pg_try_advisory_lock';
  if (/pg_advisory_unlock/i.test(q)) return 'pg_advisory_unlock';
  if (/pg_advisory_lock/i.test(q)) return 'pg_advisory_lock';
  if (/^SELECT \$?1$/i.test(q) || /^SELECT 1$/i.test(q)) return 'SELECT 1';
  if (/bench_writes|bench_rejected/i.test(q)) return 'benchmark writes';
  if (/^(BEGIN|COMMIT|ROLLBACK|SET)/i.test(q)) return 'transaction control';
  return q.split(' ')[0].toUpperCase();
}

export async function startPostgresBackend({ log }) {
  if (!existsSync(LAUNCHER)) return { skipped: 'test/env/postgres.mjs is missing' };
  const { POSTGRES_BIN, startPostgres } = await import(LAUNCHER);
  if (!existsSync(`${POSTGRES_BIN}/postgres`)) {
    return {
      skipped: `${POSTGRES_BIN}/postgres not found: apt-get install postgresql-15 (or bash scripts/ensure-system-packages.sh)`,
    };
  }
  const oursAvailable = await import('../../../dist/postgres/index.js').then(
    (m) => typeof m.postgresBackend === 'function',
    (error) => {
      log(`ours on PostgreSQL unavailable: ${error.message.split('\n')[0]}`);
      return false;
    },
  );
  const { default: pg } = await import('pg');
  const server = await startPostgres({
    settings: {
      shared_preload_libraries: 'pg_stat_statements',
      // Statements the clients send, not those the NOTIFY trigger runs inside them.
      'pg_stat_statements.track': 'top',
      'pg_stat_statements.max': 1000,
    },
  });
  const admin = new pg.Pool({ connectionString: server.url, max: 4 });
  admin.on('error', () => {});
  const q = (text, values) => admin.query(text, values);
  const { rows: versionRows } = await q('SHOW server_version');
  const serverVersion = String(versionRows[0].server_version).split(' ')[0];
  log(`PostgreSQL ${serverVersion} up at 127.0.0.1:${server.port}`);
  await q('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  await q(`CREATE ROLE ${BENCH_ROLE} LOGIN PASSWORD '${BENCH_PASSWORD}'`);
  await q(`GRANT CREATE ON SCHEMA public TO ${BENCH_ROLE}`);
  await q(
    'CREATE TABLE bench_writes (id bigserial PRIMARY KEY, election text, identity text, token bigint, sent_ms double precision, at timestamptz DEFAULT clock_timestamp())',
  );
  await q(
    'CREATE TABLE bench_rejected (id bigserial PRIMARY KEY, election text, identity text, token bigint, sent_ms double precision, code text)',
  );
  await q(`GRANT SELECT, INSERT ON bench_writes, bench_rejected TO ${BENCH_ROLE}`);
  await q(`GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO ${BENCH_ROLE}`);
  // The lease table exists before the first trial (created as ours would on first use), so no
  // trial pays for DDL; the harness LISTENs on its channel to observe renewals.
  const { schemaSql } = await import('../../../dist/postgres/index.js');
  await q(schemaSql(TABLE));
  await q(`GRANT SELECT, INSERT, UPDATE ON ${TABLE} TO ${BENCH_ROLE}`);
  await q(`GRANT USAGE ON SEQUENCE ${TABLE}_version_seq TO ${BENCH_ROLE}`);
  const benchUrl = server.urlFor(BENCH_ROLE, BENCH_PASSWORD);

  // Every change of the lease table, with the harness time it arrived: the independent
  // observer of renewals (expiry = last renewal by the holder + its lease duration).
  const history = new Map();
  const listener = new pg.Client({ connectionString: server.url });
  listener.on('error', () => {});
  await listener.connect();
  listener.on('notification', (message) => {
    const t = performance.now();
    let row;
    try {
      row = JSON.parse(message.payload ?? '');
    } catch {
      return;
    }
    if (typeof row?.name !== 'string') return;
    let list = history.get(row.name);
    if (list === undefined) {
      list = [];
      history.set(row.name, list);
    }
    list.push({
      t,
      holder: row.holder_identity ?? '',
      renewTime: row.renew_time ?? null,
      leaseMs: row.lease_duration_ms ?? null,
    });
  });
  await listener.query(`LISTEN "${TABLE}"`);

  const [pgVersion, advisoryVersion, ourVersion] = await Promise.all([
    packageVersion('pg'),
    packageVersion('advisory-lock'),
    packageVersion('.'),
  ]);

  const timingArgs = (p) => [
    '--lease-duration-ms',
    String(p.leaseDuration),
    '--renew-deadline-ms',
    String(p.renewDeadline),
    '--retry-period-ms',
    String(p.retryPeriod),
  ];

  const implementations = [
    {
      id: 'leader-elect',
      label: 'leader-elect (ours)',
      ours: true,
      version: `leader-elect ${ourVersion} (pg ${pgVersion})`,
      unavailable: oursAvailable
        ? undefined
        : 'dist/postgres/index.js (leader-elect/postgres) is not built',
      graceful: 'step-down',
      writes: 'fenced (term.fence.transaction, no term.isValid() check first)',
      settings: (p) => ({
        leaseDurationMs: p.leaseDuration,
        renewDeadlineMs: p.renewDeadline,
        retryPeriodMs: p.retryPeriod,
        text: `leaseDuration ${p.leaseDuration} / renewDeadline ${p.renewDeadline} / retryPeriod ${p.retryPeriod} ms`,
      }),
      command: ({ election, identity, profile, fenceUrl }) => ({
        command: process.execPath,
        args: [
          fixture('ours-postgres.mjs'),
          '--url',
          benchUrl,
          '--table',
          TABLE,
          '--election',
          election,
          '--identity',
          identity,
          ...timingArgs(profile),
          ...(fenceUrl ? ['--writes'] : []),
        ],
      }),
      parse: () => parseFixture,
      renewalIntervalMs: (p) => p.retryPeriod,
    },
    {
      id: 'advisory-lock-npm',
      label: 'advisory-lock (npm)',
      version: `advisory-lock ${advisoryVersion} (pg ${pgVersion})`,
      graceful: 'step-down',
      writes: 'unfenced (no token in its API)',
      settings: () => ({
        leaseDurationMs: null,
        renewDeadlineMs: null,
        retryPeriodMs: null,
        text: 'session advisory lock, waiters block in pg_advisory_lock (no lease, nothing to configure)',
      }),
      command: ({ election, identity, fenceUrl }) => ({
        command: process.execPath,
        args: [
          fixture('advisory-lock-npm.mjs'),
          '--url',
          benchUrl,
          '--election',
          election,
          '--identity',
          identity,
          ...(fenceUrl ? ['--writes'] : []),
        ],
      }),
      parse: () => parseFixture,
      renewalIntervalMs: () => 2_000,
      lockBased: true,
    },
    {
      id: 'pg-try-advisory-lock',
      label: 'pg_try_advisory_lock (hand-written)',
      version: `node-postgres ${pgVersion}`,
      graceful: 'step-down',
      writes: 'unfenced (an advisory lock has no token)',
      settings: (p) => ({
        leaseDurationMs: p.leaseDuration,
        renewDeadlineMs: null,
        retryPeriodMs: p.retryPeriod,
        text: `pg_try_advisory_lock every ${p.retryPeriod} ms, SELECT 1 check every ${p.retryPeriod} ms, idle_session_timeout ${p.leaseDuration} ms on the lock session`,
      }),
      command: ({ election, identity, profile, fenceUrl }) => ({
        command: process.execPath,
        args: [
          fixture('pg-advisory-lock.mjs'),
          '--url',
          benchUrl,
          '--election',
          election,
          '--identity',
          identity,
          '--lease-duration-ms',
          String(profile.leaseDuration),
          '--retry-period-ms',
          String(profile.retryPeriod),
          ...(fenceUrl ? ['--writes'] : []),
        ],
      }),
      parse: () => parseFixture,
      renewalIntervalMs: (p) => p.retryPeriod,
      lockBased: true,
    },
  ];

  /** The pid holding `impl`'s lock for `name`, or null; and how many sessions wait for it. */
  async function lockState(impl, name) {
    const c = await lockCoordinates(impl, name);
    const { rows } = await q(
      "SELECT pid, granted FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND objid = $2 AND objsubid = $3",
      [c.classid, c.objid, c.objsubid],
    );
    return {
      holder: rows.find((r) => r.granted)?.pid ?? null,
      waiting: rows.filter((r) => !r.granted).length,
    };
  }

  async function leaseRow(name) {
    const { rows } = await q(
      `SELECT holder_identity, lease_duration_ms, renew_time FROM ${TABLE} WHERE name = $1`,
      [name],
    );
    return rows[0] ?? null;
  }

  /** Live candidate processes per election, for `settled`. */
  const candidates = new Map();
  const retryPeriods = new Map();
  /**
   * Whether `candidate`, since its latest campaign (its start, or the last `campaign` command the
   * harness sent: its `campaigning` line may not have arrived yet), leads or reported that it
   * follows.
   */
  const campaignSentAt = new WeakMap();
  const following = (candidate) => {
    const since = campaignSentAt.get(candidate) ?? Number.NEGATIVE_INFINITY;
    return candidate.events.some(
      (e) => e.t >= since && (e.type === 'following' || e.type === 'elected'),
    );
  };

  return {
    name: 'postgres',
    server: `PostgreSQL ${serverVersion} (Debian binaries, initdb in a temporary directory) on loopback; fsync off (test settings)`,
    versions: {
      postgresql: serverVersion,
      pg: pgVersion,
      'advisory-lock': advisoryVersion,
    },
    notes: [
      'Queries are counted with pg_stat_statements for the role the candidates use (the harness’s own queries are not counted).',
      'Advisory locks have no lease: their "expiry" in the crash and pause scenarios is the moment the server freed the lock (the session ended), seen by polling pg_locks every 10 ms.',
    ],
    implementations,
    unsupported(_impl, scenario) {
      if (scenario === 'scale')
        return 'the scale scenario is measured on etcd (one session lease per process); on PostgreSQL every election is its own row';
      return null;
    },
    /** The observe scenario's observers of a lease row: ours (the CLI as a user runs it). */
    async observers() {
      return ourObservers({
        backendArgs: (election) => [
          '--backend',
          'postgres',
          '--connection-string',
          server.urlFor(BENCH_ROLE),
          '--table',
          TABLE,
          '--election',
          election,
        ],
        env: { PGPASSWORD: BENCH_PASSWORD },
      }).map((o) => ({ ...o, version: `leader-elect ${ourVersion} (pg ${pgVersion})` }));
    },
    observerPeersNote:
      'no peer observer: the advisory-lock peers have no holder record to watch (only pg_locks, which can only be polled)',
    spawn(impl, params) {
      const { command, args, env } = impl.command(params);
      const candidate = new CandidateProcess({
        label: `${impl.id}/${params.identity}`,
        command,
        args,
        env,
        parse: impl.parse(),
      });
      let set = candidates.get(params.election);
      if (set === undefined) {
        set = new Set();
        candidates.set(params.election, set);
      }
      set.add(candidate);
      const send = candidate.send.bind(candidate);
      candidate.send = (command) => {
        const t = send(command);
        if (command === 'campaign') campaignSentAt.set(candidate, t);
        return t;
      };
      retryPeriods.set(params.election, params.profile.retryPeriod);
      const own = set;
      void candidate.exited.then(() => own.delete(candidate));
      return candidate;
    },
    /**
     * The lease (ours: the row; advisory locks: the lock) has a holder — and, for the blocking
     * npm peer, a waiter — then the follower gets SETTLE_MS.
     */
    async settled(impl, name, count, { timeoutMs = 15_000 } = {}) {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const live = [...(candidates.get(name) ?? [])];
        const allFollow = impl.id === 'advisory-lock-npm' || live.every(following);
        if (impl.lockBased) {
          const state = await lockState(impl, name);
          const wanted = impl.id === 'advisory-lock-npm' ? count - 1 : 0;
          if (state.holder !== null && state.waiting >= wanted && allFollow) break;
        } else if ((await leaseRow(name))?.holder_identity && allFollow) {
          break;
        }
        if (performance.now() > deadline)
          throw new Error(`${impl.id}: ${name} has no holder after ${timeoutMs} ms`);
        await sleep(10);
      }
      // The hand-written follower polls: a trial starts at a random phase of its poll cycle (it
      // reported `following` right after a poll), as a real handoff would.
      const phase =
        impl.id === 'pg-try-advisory-lock' ? Math.random() * (retryPeriods.get(name) ?? 0) : 0;
      await sleep(SETTLE_MS + phase);
    },
    /**
     * Ours: the arrival of the crashed holder's last renewal (its NOTIFY, seen by the harness's
     * LISTEN) + its lease duration; cross-checked with the renew_time it wrote. Advisory locks:
     * the moment the lock was freed (pg_locks polled every 10 ms).
     */
    async expiryObserver(impl, name) {
      if (impl.lockBased) {
        const before = await lockState(impl, name);
        let polling;
        let cancelled = false;
        return {
          method: 'advisory locks: lock freed by the server (pg_locks polled every 10 ms)',
          start() {
            polling = (async () => {
              let previous = performance.now();
              const deadline = previous + 120_000;
              while (!cancelled && performance.now() < deadline) {
                const sent = performance.now();
                const state = await lockState(impl, name);
                const mid = (sent + performance.now()) / 2;
                if (state.holder !== before.holder) return { expiry: (previous + mid) / 2 };
                previous = mid;
                await sleep(10);
              }
              return {
                expiry: null,
                why: 'the lock was never freed (the paused session lives on)',
              };
            })();
          },
          result: () => polling,
          cancel: () => {
            cancelled = true;
          },
        };
      }
      let t0;
      return {
        method: 'LISTEN on the lease table: arrival of the last renewal + lease_duration_ms',
        start(t) {
          t0 = t;
        },
        async result() {
          const events = history.get(name) ?? [];
          const before = events.filter((e) => e.t <= t0);
          const holder = before[before.length - 1]?.holder;
          if (!holder) return { expiry: null, why: 'no holder seen before the crash' };
          const byHolder = events.filter((e) => e.holder === holder);
          const last = byHolder[byHolder.length - 1];
          const renewedAt = wallToHarness(last.renewTime);
          return {
            expiry: last.t + last.leaseMs,
            ...(renewedAt === null ? {} : { expiryByRenewTime: renewedAt + last.leaseMs }),
          };
        },
      };
    },
    /** Statements the candidates' role ran, by kind (pg_stat_statements). */
    async trafficSnapshot() {
      const { rows } = await q(
        `SELECT query, calls FROM pg_stat_statements WHERE userid = (SELECT oid FROM pg_roles WHERE rolname = '${BENCH_ROLE}')`,
      );
      const counts = {};
      for (const row of rows) {
        const kind = statementKind(row.query);
        counts[kind] = (counts[kind] ?? 0) + Number(row.calls);
      }
      return counts;
    },
    keepaliveMethod: null,
    /** The pause scenario's downstream system is the database: writes are rows. */
    async fencedResource() {
      return {
        urlFor: (election) => `postgres:${election}`,
        async writes(election) {
          const { rows } = await q(
            `SELECT identity, token::text AS token, sent_ms, true AS accepted FROM bench_writes WHERE election = $1
             UNION ALL SELECT identity, token::text, sent_ms, false FROM bench_rejected WHERE election = $1`,
            [election],
          );
          return rows.map((r) => ({
            t: Number(r.sent_ms) - performance.timeOrigin,
            identity: r.identity,
            token: r.token === null ? null : BigInt(r.token),
            accepted: r.accepted,
          }));
        },
        close: async () => {},
      };
    },
    /** Ours: a row whose holder stopped renewing an hour ago; advisory locks: nothing held. */
    async prepareColdStart(impl, name) {
      if (impl.lockBased) return;
      const longAgo = new Date(Date.now() - 3_600_000).toISOString();
      await q(
        `INSERT INTO ${TABLE} (name, holder_identity, lease_duration_ms, acquire_time, renew_time, lease_transitions) VALUES ($1, 'gone-an-hour-ago', 2000, $2, $2, 0)`,
        [name, longAgo],
      );
    },
    coldStartNote:
      'PostgreSQL: ours finds a row whose holder stopped renewing an hour ago and, never trusting remote times, first waits a full lease duration from its first observation; advisory locks start with nothing held',
    async stop() {
      await listener.end().catch(() => {});
      await admin.end().catch(() => {});
      await server.stop();
    },
  };
}
