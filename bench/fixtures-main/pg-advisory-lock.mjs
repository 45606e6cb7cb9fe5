#!/usr/bin/env node
/**
 * Peer: leader election as node-postgres users write it with a session advisory lock — the
 * recipe of many blog posts and internal libraries:
 *
 * - a dedicated `pg.Client` for the lock; every `retryPeriod`, a follower tries
 *   `SELECT pg_try_advisory_lock(key)`; true → it leads;
 * - the leader checks its lock connection with `SELECT 1` every `retryPeriod`; a failed check or
 *   an `error`/`end` event on the client → it stops leading and reconnects;
 * - stepping down: `pg_advisory_unlock(key)`;
 * - against pauses, the careful version (this one): the lock session has
 *   `idle_session_timeout = leaseDuration`, so the server ends the session of a holder that went
 *   silent (paused, partitioned) and frees its lock. Without it a paused holder keeps the lock
 *   for as long as its TCP connection lives.
 *
 * Writes (--writes) go through a separate pool, as application queries do; there is no fencing
 * token to send. Speaks the harness protocol of ./lib/protocol.mjs (plus `following`: its first
 * try found the lock held).
 *
 *   node bench/fixtures/pg-advisory-lock.mjs --url postgres://… --election E --identity ID
 *        [--lease-duration-ms 2000 --retry-period-ms 500] [--writes]
 */
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { startDatabaseWrites } from './lib/pg-writes.mjs';
import { emit, exitSoon, onCommands } from './lib/protocol.mjs';

const { values: flags } = parseArgs({
  options: {
    url: { type: 'string' },
    election: { type: 'string' },
    identity: { type: 'string' },
    'lease-duration-ms': { type: 'string', default: '15000' },
    'retry-period-ms': { type: 'string', default: '2000' },
    writes: { type: 'boolean', default: false },
    'write-interval-ms': { type: 'string', default: '50' },
  },
});
emit('started', { pid: process.pid });

const retryMs = Number(flags['retry-period-ms']);
const leaseMs = Number(flags['lease-duration-ms']);
// A 64-bit key from the name, as such code usually derives it.
const key = createHash('sha256').update(flags.election).digest().readBigInt64LE(0).toString();
const pool = flags.writes ? new pg.Pool({ connectionString: flags.url, max: 2 }) : null;
pool?.on('error', () => {});

let client = null;
let leading = false;
let campaigning = false;
let timer = null;
let stopWrites = () => {};
/** `following` is printed once per campaign, after the first try that found the lock held. */
let announced = false;

async function connect() {
  const c = new pg.Client({
    connectionString: flags.url,
    keepAlive: true,
    options: `-c idle_session_timeout=${leaseMs}`,
  });
  c.on('error', () => lose('connection error'));
  c.on('end', () => lose('connection ended'));
  await c.connect();
  return c;
}

function lose(reason) {
  if (client !== null) {
    const old = client;
    client = null;
    old.end().catch(() => {});
  }
  if (!leading) return;
  leading = false;
  stopWrites();
  emit('lost', { reason });
}

async function tick() {
  timer = null;
  if (!campaigning) return;
  try {
    client ??= await connect();
    if (leading) {
      await client.query('SELECT 1');
    } else {
      const { rows } = await client.query('SELECT pg_try_advisory_lock($1) AS locked', [key]);
      if (!rows[0].locked && !announced) {
        announced = true;
        emit('following');
      }
      if (rows[0].locked && !campaigning) {
        // Stepped down while the try was in flight: give it back.
        await client.query('SELECT pg_advisory_unlock($1)', [key]);
      } else if (rows[0].locked) {
        leading = true;
        emit('elected');
        if (pool !== null) {
          stopWrites = startDatabaseWrites({
            intervalMs: Number(flags['write-interval-ms']),
            isLeader: () => leading,
            write: (sent) =>
              pool
                .query(
                  'INSERT INTO bench_writes (election, identity, token, sent_ms) VALUES ($1, $2, NULL, $3)',
                  [flags.election, flags.identity, sent],
                )
                .then(() => undefined),
          });
        }
      }
    }
  } catch (error) {
    lose(`check failed: ${error?.message ?? error}`);
  }
  if (campaigning) timer = setTimeout(tick, retryMs);
}

function startCampaign() {
  campaigning = true;
  announced = false;
  emit('campaigning');
  void tick();
}

async function stepDown() {
  campaigning = false;
  if (timer !== null) clearTimeout(timer);
  timer = null;
  stopWrites();
  if (leading && client !== null) {
    leading = false;
    await client.query('SELECT pg_advisory_unlock($1)', [key]).catch(() => {});
  }
  leading = false;
}

startCampaign();
onCommands(async (command) => {
  if (command === 'step-down') {
    await stepDown();
    emit('stepped-down');
  } else if (command === 'campaign') {
    if (!campaigning) startCampaign();
  } else if (command === 'exit') {
    exitSoon(0, 10_000);
    await stepDown();
    await client?.end().catch(() => {});
    await pool?.end();
    process.exit(0);
  } else {
    emit('error', { op: 'command', error: `unknown command ${command}` });
  }
});
