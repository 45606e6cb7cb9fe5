#!/usr/bin/env node
/**
 * Ours on PostgreSQL: `leader-elect` with `leader-elect/postgres` (one row per election,
 * LISTEN/NOTIFY), used as the README shows. Speaks the harness protocol.
 *
 *   node bench/fixtures/ours-postgres.mjs --url postgres://… --table T --election E --identity ID
 *        [--lease-duration-ms 15000 --renew-deadline-ms 10000 --retry-period-ms 2000]
 *        [--writes] [--write-interval-ms 50]
 *
 * A follower prints `following` once it observed the leader with its watch up.
 * With --writes (the pause scenario) the leader inserts a row every 50 ms through
 * `term.fence.transaction` — deliberately without checking `term.isValid()` first, so that every
 * write a resumed, stale leader makes reaches the database and the fence alone decides.
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { runOurCandidate, timingFlagOptions, timingsFromFlags } from './lib/ours.mjs';
import { startDatabaseWrites } from './lib/pg-writes.mjs';
import { emit } from './lib/protocol.mjs';

const { values: flags } = parseArgs({
  options: {
    url: { type: 'string' },
    table: { type: 'string', default: 'leader_elect_leases' },
    election: { type: 'string' },
    identity: { type: 'string' },
    writes: { type: 'boolean', default: false },
    'write-interval-ms': { type: 'string', default: '50' },
    ...timingFlagOptions,
  },
});

const { postgresBackend } = await import('../../dist/postgres/index.js');
emit('started', { pid: process.pid });

// Bookkeeping of refused writes, outside any fence (the harness counts them).
const bookkeeping = flags.writes ? new pg.Pool({ connectionString: flags.url, max: 1 }) : null;
bookkeeping?.on('error', () => {});

/**
 * Reports `following` once per campaign when this candidate, as a follower, has observed the
 * leader and its watch is up: the harness starts a trial only then (a candidate process that is
 * still starting under load would otherwise first observe the lease after the crash).
 */
function announcingFollower(backend) {
  let watchUp = false;
  let observed = false;
  let announced = false;
  const announce = () => {
    if (watchUp && observed && !announced) {
      announced = true;
      emit('following');
    }
  };
  const attempt = backend.attempt.bind(backend);
  backend.attempt = async (request) => {
    const observation = await attempt(request);
    if (observation.kind === 'not-held' && observation.holder !== null) {
      observed = true;
      announce();
    }
    return observation;
  };
  const watch = backend.watch.bind(backend);
  backend.watch = (listener, context) =>
    watch((event) => {
      if (event.type === 'up') {
        watchUp = true;
        announce();
      } else if (event.type === 'down') {
        watchUp = false;
      } else if (event.type === 'observed' && event.observation.holder !== null) {
        observed = true;
        announce();
      }
      listener(event);
    }, context);
  return backend;
}

runOurCandidate({
  makeBackend: (name) =>
    announcingFollower(postgresBackend({ connectionString: flags.url, table: flags.table, name })),
  election: flags.election,
  identity: flags.identity,
  timings: timingsFromFlags(flags),
  elections: 1,
  startWrites: flags.writes
    ? (term) =>
        startDatabaseWrites({
          intervalMs: Number(flags['write-interval-ms']),
          isLeader: () => true,
          write: (sent) =>
            term.fence.transaction((client) =>
              client.query(
                'INSERT INTO bench_writes (election, identity, token, sent_ms) VALUES ($1, $2, $3, $4)',
                [flags.election, flags.identity, term.token.toString(), sent],
              ),
            ),
          refused: async (sent, error) => {
            await bookkeeping.query(
              'INSERT INTO bench_rejected (election, identity, token, sent_ms, code) VALUES ($1, $2, $3, $4, $5)',
              [flags.election, flags.identity, term.token.toString(), sent, error?.code ?? 'error'],
            );
          },
        })
    : undefined,
  close: async () => {
    await bookkeeping?.end();
  },
});
