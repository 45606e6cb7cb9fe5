/**
 * The etcd backend of the benchmark: a three-member etcd 3.6 cluster built from source by the
 * project's test environment (test/env), started and stopped here, and every implementation that
 * can run on it, each as a child process:
 *
 * - leader-elect (ours)          bench/fixtures/ours-etcd.mjs
 * - Go concurrency.Election      test/env/cmd/etcd-election-peer (etcd's client/v3/concurrency)
 * - etcdctl elect 3.6            our etcdctl build (same recipe, session TTL fixed at 60 s)
 * - etcdctl elect 3.4            Debian's etcd-client, if installed
 * - etcd3 npm Election           bench/fixtures/etcd3-npm.mjs
 *
 * Observers (the observe scenario): ours (bench/lib/observers.mjs) and `etcdctl elect --listen`.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ensureBinaries } from '../../../test/env/build.mjs';
import { debianEtcdctl } from '../../../test/env/debian-etcd.mjs';
import { startEtcdCluster } from '../../../test/env/etcd-cluster.mjs';
import { CandidateProcess, parseJsonLine } from '../candidate-process.mjs';
import { packageVersion } from '../machine.mjs';
import { etcdctlListenParser, ourObservers } from '../observers.mjs';
import { sleep } from '../stats.mjs';

const run = promisify(execFile);
const fixture = (name) => fileURLToPath(new URL(`../../fixtures/${name}`, import.meta.url));

/** How long after a candidate's key appears we let its watch settle before the next trial. */
const SETTLE_MS = 100;

async function versionOf(binary, args, pattern) {
  try {
    const { stdout } = await run(binary, args, { timeout: 10_000 });
    return pattern.exec(stdout)?.[1] ?? stdout.trim().split('\n')[0];
  } catch {
    return null;
  }
}

/** Our fixture and etcd3's speak the same JSON protocol; map its events. */
function parseFixture(line) {
  const e = parseJsonLine(line);
  if (!e) return null;
  return { ...e, type: e.event };
}

/** The Go peer's JSON lines (see test/env/cmd/etcd-election-peer/main.go). */
function parseGoPeer(line) {
  const e = parseJsonLine(line);
  if (!e) return null;
  switch (e.event) {
    case 'started':
    case 'campaigning':
      return { type: e.event };
    case 'elected':
      return { type: 'elected', token: String(e.rev), lease: e.lease, key: e.key };
    case 'session-lost':
      return e.was_leader
        ? { type: 'lost', reason: 'session-lost' }
        : { type: 'info', event: e.event };
    case 'resigned':
      return { type: 'stepped-down' };
    default:
      return { type: 'info', event: e.event, error: e.error };
  }
}

/** `etcdctl elect` prints the leader key, then the proposal, once elected; nothing else. */
function etcdctlParser() {
  let elected = false;
  return (line) => {
    if (elected) return { type: 'info', line };
    elected = true;
    return { type: 'elected', key: line.trim() };
  };
}

/**
 * @param {{quick: boolean, log: (msg: string) => void}} options
 * @returns {Promise<{skipped: string} | object>} the backend context
 */
export async function startEtcdBackend({ log }) {
  let binaries;
  try {
    binaries = await ensureBinaries(['etcd', 'etcd-election-peer', 'etcdctl']);
  } catch (error) {
    return { skipped: `etcd binaries could not be built: ${error.message.split('\n')[0]}` };
  }
  const debian = debianEtcdctl();
  const [etcdVersion, etcdctlVersion, debianVersion, etcd3Version, ourVersion] = await Promise.all([
    versionOf(binaries.etcd, ['--version'], /etcd Version:\s*(\S+)/),
    binaries.etcdctl ? versionOf(binaries.etcdctl, ['version'], /etcdctl version:\s*(\S+)/) : null,
    debian ? versionOf(debian, ['version'], /etcdctl version:\s*(\S+)/) : null,
    packageVersion('etcd3'),
    packageVersion('.'),
  ]);
  const goModVersion = await versionOf('go', ['version'], /go version (\S+)/);

  log(`starting a 3-member etcd ${etcdVersion} cluster`);
  const cluster = await startEtcdCluster({ binary: binaries.etcd, members: 3, name: 'bench' });
  const { Etcd3 } = await import('etcd3');
  const client = new Etcd3({ hosts: cluster.endpoints });
  const endpoints = cluster.endpoints.join(',');

  /** Go-recipe layout: `<election>/<lease hex>`; etcd3: `election/<name>/<lease decimal>`. */
  const goLayout = (election) => `${election}/`;

  const oursAvailable = await import('../../../dist/etcd/index.js').then(
    (m) => typeof m.etcdBackend === 'function' && typeof m.createEtcdClient === 'function',
    (error) => {
      log(`ours on etcd unavailable: ${error.message.split('\n')[0]}`);
      return false;
    },
  );

  const implementations = [
    {
      id: 'leader-elect',
      label: 'leader-elect (ours)',
      ours: true,
      version: `leader-elect ${ourVersion}`,
      unavailable: oursAvailable
        ? undefined
        : 'dist/etcd/index.js (leader-elect/etcd) is not built',
      keyPrefix: goLayout,
      graceful: 'step-down',
      writes: 'fenced (term.isValid() + term.token)',
      settings: (p) => ({
        leaseDurationMs: p.leaseDuration,
        renewDeadlineMs: p.renewDeadline,
        retryPeriodMs: p.retryPeriod,
        text: `leaseDuration ${p.leaseDuration} / renewDeadline ${p.renewDeadline} / retryPeriod ${p.retryPeriod} ms (session TTL ${Math.ceil(p.leaseDuration / 1000)} s)`,
      }),
      command: ({
        election,
        identity,
        profile,
        fenceUrl,
        scale = false,
        elections = 1,
        steering = false,
      }) => ({
        command: process.execPath,
        args: [
          fixture('ours-etcd.mjs'),
          '--endpoints',
          endpoints,
          '--election',
          election,
          '--identity',
          identity,
          '--lease-duration-ms',
          String(profile.leaseDuration),
          '--renew-deadline-ms',
          String(profile.renewDeadline),
          '--retry-period-ms',
          String(profile.retryPeriod),
          ...(scale ? ['--scale', '--elections', String(elections)] : []),
          ...(fenceUrl ? ['--fence-url', fenceUrl] : []),
          ...(steering ? ['--steering'] : []),
        ],
      }),
      parse: () => parseFixture,
      renewalIntervalMs: (p) => p.retryPeriod,
      scale: true,
    },
    {
      id: 'go-concurrency',
      label: 'Go concurrency.Election',
      version: `etcd client/v3/concurrency ${etcdVersion} (${goModVersion})`,
      keyPrefix: goLayout,
      // Its `exit` command: Resign, then close the session (revoke its lease), then exit — what a
      // stopping Go program does, and what our stop() and etcd3's resign() do (both revoke).
      graceful: 'exit-command',
      writes: null,
      noWritesReason: 'the Go peer binary does no writes; its stale claim is reported instead',
      settings: (p) => ({
        leaseDurationMs: Math.ceil(p.leaseDuration / 1000) * 1000,
        renewDeadlineMs: null,
        retryPeriodMs: null,
        text: `session TTL ${Math.ceil(p.leaseDuration / 1000)} s, keepalive every TTL/3 (fixed by the library)`,
      }),
      command: ({ election, identity, profile }) => ({
        command: binaries.etcdElectionPeer,
        args: [
          '--endpoints',
          endpoints,
          '--election',
          election,
          '--identity',
          identity,
          '--ttl',
          String(Math.ceil(profile.leaseDuration / 1000)),
        ],
      }),
      parse: () => parseGoPeer,
      renewalIntervalMs: (p) => (Math.ceil(p.leaseDuration / 1000) * 1000) / 3,
      scaleUnsupported: 'one election per process (the peer binary campaigns once)',
    },
    ...[
      [binaries.etcdctl, etcdctlVersion, 'etcdctl-3.6', 'our build'],
      [debian, debianVersion, 'etcdctl-3.4', 'Debian etcd-client'],
    ]
      .filter(([binary]) => binary)
      .map(([binary, version, id, origin]) => ({
        id,
        label: `etcdctl ${version} elect`,
        version: `etcdctl ${version} (${origin})`,
        keyPrefix: goLayout,
        graceful: 'SIGTERM',
        writes: null,
        noWritesReason: 'etcdctl elect does no writes; its stale claim is reported instead',
        fixedTtlMs: 60_000,
        settings: () => ({
          leaseDurationMs: 60_000,
          renewDeadlineMs: null,
          retryPeriodMs: null,
          text: 'session TTL 60 s (concurrency default; etcdctl elect has no TTL flag)',
        }),
        command: ({ election, identity }) => ({
          command: binary,
          args: [`--endpoints=${endpoints}`, 'elect', election, identity],
          env: { ETCDCTL_API: '3' },
        }),
        parse: etcdctlParser,
        renewalIntervalMs: () => 20_000,
        scaleUnsupported: 'one election per process',
      })),
    {
      // Not an election: the graceful scenario's floor, measured in the same run (see the fixture).
      id: 'etcd-floor',
      label: 'floor: a delete and its watch event, no election code',
      floor: true,
      scenarios: ['graceful'],
      version: `etcd3 ${etcd3Version}`,
      keyPrefix: goLayout,
      graceful: 'step-down',
      writes: null,
      noWritesReason: 'a floor, not an election',
      settings: (p) => ({
        leaseDurationMs: Math.ceil(p.leaseDuration / 1000) * 1000,
        renewDeadlineMs: null,
        retryPeriodMs: null,
        text: 'one put per process, the follower watches the leader key; step-down = one delete',
      }),
      command: ({ election, identity, profile }) => ({
        command: process.execPath,
        args: [
          fixture('etcd-floor.mjs'),
          '--endpoints',
          endpoints,
          '--election',
          election,
          '--identity',
          identity,
          '--ttl',
          String(Math.ceil(profile.leaseDuration / 1000)),
        ],
      }),
      parse: () => parseFixture,
      renewalIntervalMs: (p) => (Math.ceil(p.leaseDuration / 1000) * 1000) / 3,
    },
    {
      id: 'etcd3-npm',
      label: 'etcd3 npm Election',
      version: `etcd3 ${etcd3Version}`,
      keyPrefix: (election) => `election/${election}/`,
      graceful: 'step-down',
      writes: 'unfenced (no token in its API)',
      settings: (p) => ({
        leaseDurationMs: Math.ceil(p.leaseDuration / 1000) * 1000,
        renewDeadlineMs: null,
        retryPeriodMs: null,
        text: `lease TTL ${Math.ceil(p.leaseDuration / 1000)} s, keepalive every TTL/3 (fixed by the library)`,
      }),
      command: ({ election, identity, profile, fenceUrl, scale = false, elections = 1 }) => ({
        command: process.execPath,
        args: [
          fixture('etcd3-npm.mjs'),
          '--endpoints',
          endpoints,
          '--election',
          election,
          '--identity',
          identity,
          '--ttl',
          String(Math.ceil(profile.leaseDuration / 1000)),
          ...(scale ? ['--scale', '--elections', String(elections)] : []),
          ...(fenceUrl ? ['--fence-url', fenceUrl] : []),
        ],
      }),
      parse: () => parseFixture,
      renewalIntervalMs: (p) => (Math.ceil(p.leaseDuration / 1000) * 1000) / 3,
      scale: true,
      // One lease and keepalive stream per campaign: 10,000 would be 10,000 leases.
      scaleMax: 1_000,
    },
  ];

  /** Keys under the implementation's election prefix, oldest (the leader) first. */
  async function candidateKeys(impl, election) {
    const res = await client
      .getAll()
      .prefix(impl.keyPrefix(election))
      .sort('Create', 'Ascend')
      .exec();
    return res.kvs;
  }

  return {
    name: 'etcd',
    server: `etcd ${etcdVersion}, 3 members on loopback (heartbeat 50 ms, election timeout 500 ms)`,
    versions: {
      etcd: etcdVersion,
      'etcdctl (built)': etcdctlVersion,
      ...(debianVersion ? { 'etcdctl (Debian)': debianVersion } : {}),
      etcd3: etcd3Version,
      go: goModVersion,
    },
    implementations,
    /** The observe scenario's observers of an election (ours, then etcd's own). */
    async observers() {
      const ours = ourObservers({
        backendArgs: (election) => [
          '--backend',
          'etcd',
          '--endpoints',
          endpoints,
          '--election',
          election,
        ],
      }).map((o) => ({ ...o, version: `leader-elect ${ourVersion}` }));
      const listen = {
        id: 'etcdctl-listen',
        label: `etcdctl ${etcdctlVersion} elect --listen`,
        version: `etcdctl ${etcdctlVersion} (our build)`,
        mode: 'push',
        settings:
          'concurrency.Election.Observe: a read of the oldest key, a watch on it, a read again after its deletion',
        spawn: (election) =>
          new CandidateProcess({
            label: `etcdctl-listen/${election}`,
            command: binaries.etcdctl,
            args: [`--endpoints=${endpoints}`, 'elect', '--listen', election],
            env: { ETCDCTL_API: '3' },
            parse: etcdctlListenParser(election),
          }),
      };
      return binaries.etcdctl
        ? [...ours, listen]
        : [...ours, { ...listen, unavailable: 'etcdctl is not built' }];
    },
    /** Starts one candidate of `impl`. */
    spawn(impl, params) {
      const { command, args, env } = impl.command(params);
      return new CandidateProcess({
        label: `${impl.id}/${params.identity}`,
        command,
        args,
        env,
        parse: impl.parse(),
      });
    },
    /** Resolves once `count` candidates have their key in the election (plus a settle time). */
    async settled(impl, election, count, { timeoutMs = 15_000 } = {}) {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const kvs = await candidateKeys(impl, election);
        if (kvs.length === count) break;
        if (performance.now() > deadline) {
          throw new Error(
            `${impl.id}: ${kvs.length} of ${count} candidate keys after ${timeoutMs} ms`,
          );
        }
        await sleep(10);
      }
      await sleep(SETTLE_MS);
    },
    /**
     * Prepares the expiry measurement of the current leader's lease. `start(t0)` begins polling
     * LeaseTimeToLive after the crash/pause; `result()` gives the server-side expiry as a harness
     * time. etcd reports whole seconds, truncated: the value drops to 0 exactly 1 s before the
     * lease expires, so the moment of that drop (between two polls 20 ms apart) + 1 s is the
     * expiry, the same method for every implementation.
     */
    async expiryObserver(impl, election) {
      const [leader] = await candidateKeys(impl, election);
      if (!leader) throw new Error(`${impl.id}: no leader key under ${impl.keyPrefix(election)}`);
      const leaseId = leader.lease;
      // The moment the server deleted the leader's key (it revoked the expired lease), as a
      // harness watch sees it: what every follower waits for, independent of etcd's sweep phase.
      let deletedAt = null;
      let onDeleted = () => {};
      const watcher = await client.watch().key(leader.key).only('delete').create();
      watcher.on('delete', () => {
        deletedAt ??= performance.now();
        onDeleted();
      });
      const keyDeleted = new Promise((resolve) => {
        onDeleted = resolve;
      });
      let polling;
      const finish = async (result) => {
        // The follower only leads after the deletion, so it has arrived or is about to.
        await Promise.race([keyDeleted, sleep(2_000)]);
        await watcher.cancel().catch(() => {});
        return { ...result, deletedAt };
      };
      return {
        method: 'LeaseTimeToLive polled every 20 ms (drop to TTL 0 + 1 s)',
        start() {
          polling = (async () => {
            let previous = null;
            const deadline = performance.now() + 120_000;
            while (performance.now() < deadline) {
              const sent = performance.now();
              let ttl;
              try {
                ttl = Number((await client.leaseClient.leaseTimeToLive({ ID: leaseId })).TTL);
              } catch {
                ttl = Number.NaN;
              }
              const mid = (sent + performance.now()) / 2;
              if (ttl === 0) {
                if (previous === null)
                  return { expiry: null, why: 'already below 1 s at the first poll' };
                return { expiry: (previous + mid) / 2 + 1_000, resolutionMs: (mid - previous) / 2 };
              }
              if (ttl < 0) return { expiry: null, why: 'lease gone before the drop was seen' };
              if (ttl > 0) previous = mid;
              await sleep(20);
            }
            return { expiry: null, why: 'no expiry within 120 s' };
          })();
        },
        result: () => polling.then(finish),
        cancel: () => {
          void watcher.cancel().catch(() => {});
        },
      };
    },
    /** Client traffic seen by the servers: messages received per gRPC method, all members. */
    async trafficSnapshot() {
      const counts = {};
      await Promise.all(
        cluster.endpoints.map(async (url) => {
          const text = await (await fetch(`${url}/metrics`)).text();
          for (const line of text.split('\n')) {
            if (!line.startsWith('grpc_server_msg_received_total{')) continue;
            const method = /grpc_method="([^"]+)"/.exec(line)?.[1];
            const value = Number(line.slice(line.lastIndexOf(' ') + 1));
            if (method && value > 0) counts[method] = (counts[method] ?? 0) + value;
          }
        }),
      );
      return counts;
    },
    keepaliveMethod: 'LeaseKeepAlive',
    /** etcd deletes an expired holder's key itself: a cold start needs no preparation. */
    async prepareColdStart() {},
    coldStartNote:
      'etcd deletes an expired lease and its key, so candidates start on an empty election',
    async stop() {
      client.close();
      await cluster.stop();
    },
  };
}
