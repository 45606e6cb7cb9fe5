#!/usr/bin/env node
/**
 * Peer: the `advisory-lock` npm package (PostgreSQL session advisory locks), used as its README
 * shows for "only one process does this": `createMutex(url)(name)`, `await mutex.lock()` (waits
 * in `pg_advisory_lock` on a connection of its own until the lock is free), then work, then the
 * returned `unlock()`. Speaks the harness protocol of ./lib/protocol.mjs.
 *
 *   node bench/fixtures/advisory-lock-npm.mjs --url postgres://… --election E --identity ID
 *        [--writes] [--write-interval-ms 50]
 *
 * It has no lease, no loss notification and no fencing token: a holder keeps the lock for as
 * long as its session lives. With --writes the holder inserts a row every 50 ms through a pool of
 * its own (no token: nothing can refuse it).
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { startDatabaseWrites } from './lib/pg-writes.mjs';
import { emit, exitSoon, onCommands } from './lib/protocol.mjs';

const { values: flags } = parseArgs({
  options: {
    url: { type: 'string' },
    election: { type: 'string' },
    identity: { type: 'string' },
    writes: { type: 'boolean', default: false },
    'write-interval-ms': { type: 'string', default: '50' },
  },
});

const { default: advisoryLock } = await import('advisory-lock');
const createMutex = advisoryLock.default ?? advisoryLock;
emit('started', { pid: process.pid });

const mutex = createMutex(flags.url)(flags.election);
const pool = flags.writes ? new pg.Pool({ connectionString: flags.url, max: 2 }) : null;
pool?.on('error', () => {});
let unlock = null;
let stopWrites = () => {};
let campaign = null;

function startCampaign() {
  emit('campaigning');
  campaign = mutex.lock().then(
    (release) => {
      unlock = release;
      emit('elected');
      if (pool !== null) {
        stopWrites = startDatabaseWrites({
          intervalMs: Number(flags['write-interval-ms']),
          isLeader: () => unlock !== null,
          write: (sent) =>
            pool
              .query(
                'INSERT INTO bench_writes (election, identity, token, sent_ms) VALUES ($1, $2, NULL, $3)',
                [flags.election, flags.identity, sent],
              )
              .then(() => undefined),
        });
      }
    },
    (error) => emit('error', { op: 'lock', error: String(error?.message ?? error) }),
  );
}

async function release() {
  stopWrites();
  const current = unlock;
  unlock = null;
  if (current !== null) await current();
}

startCampaign();
onCommands(async (command) => {
  if (command === 'step-down') {
    await campaign;
    await release();
    emit('stepped-down');
  } else if (command === 'campaign') {
    if (unlock === null) startCampaign();
  } else if (command === 'exit') {
    exitSoon(0, 10_000);
    await release();
    await pool?.end();
    process.exit(0);
  } else {
    emit('error', { op: 'command', error: `unknown command ${command}` });
  }
});
