/**
 * The LISTEN/NOTIFY watch: a follower takes over on release because a notification told it,
 * not because it polled (asserted on the sequence of its backend calls and watch events, with
 * timings under which no poll or expiry timer can fire during the test), and the watch comes
 * back after its connection is killed.
 */
import { afterAll, afterEach, describe, expect, inject, test } from 'vitest';
import {
  type BackendContext,
  LeaderElector,
  type LeaseBackend,
  type WatchEvent,
  type WatchListener,
} from '../../src/index.js';
import { type PostgresFence, postgresBackend } from '../../src/postgres/index.js';
import { waitFor } from '../support/wait.js';
import { adminQuery, dropLeaseTable, uniqueTable } from './support.js';

const url = inject('postgresUrl');
const table = uniqueTable('watch');
// Followers that watch never poll; the expiry timer is a minute away: within a test, only the
// watch can make a follower attempt.
const timings = { leaseDuration: 60_000, renewDeadline: 40_000, retryPeriod: 10_000 };
const electors: LeaderElector<PostgresFence>[] = [];
let counter = 0;

afterEach(async () => {
  await Promise.all(electors.splice(0).map((e) => e.stop()));
});
afterAll(async () => {
  await dropLeaseTable(table);
});

type Logged =
  | { readonly kind: 'watch'; readonly event: WatchEvent }
  | { readonly kind: 'attempt'; readonly mode: string; readonly result: string };

/** Records every watch event and attempt of one backend, in order. */
function recorded(
  backend: LeaseBackend<PostgresFence>,
  log: Logged[],
): LeaseBackend<PostgresFence> {
  return {
    description: backend.description,
    configure: (t) => backend.configure?.(t),
    attempt: async (request) => {
      const observation = await backend.attempt(request);
      log.push({ kind: 'attempt', mode: request.mode, result: observation.kind });
      return observation;
    },
    release: (request) => backend.release(request),
    watch: (listener: WatchListener, context: BackendContext) =>
      backend.watch!((event) => {
        log.push({ kind: 'watch', event });
        listener(event);
      }, context),
    inspect: (request) => backend.inspect!(request),
    close: () => backend.close(),
  };
}

function elector(name: string, identity: string, log?: Logged[]) {
  const backend = postgresBackend({ connectionString: url, table, name });
  const e = new LeaderElector<PostgresFence>({
    backend: log === undefined ? backend : recorded(backend, log),
    identity,
    ...timings,
  });
  electors.push(e);
  return e;
}

describe('postgres: LISTEN/NOTIFY watch', () => {
  test('a release reaches the follower as a notification and it takes over at once, without a poll', async () => {
    const name = `handoff-${process.pid}-${counter++}`;
    const a = elector(name, 'a');
    void a.run();
    const aTerm = await a.waitForLeadership({ signal: AbortSignal.timeout(10_000) });
    const log: Logged[] = [];
    const b = elector(name, 'b', log);
    void b.run();
    await waitFor(() => b.leader?.identity === 'a', 'b to observe a', 10_000);
    await waitFor(
      () => log.some((l) => l.kind === 'watch' && l.event.type === 'up'),
      'b’s watch up',
      10_000,
    );
    const before = log.length;
    const next = b.waitForLeadership({ signal: AbortSignal.timeout(10_000) });
    await a.stop();
    const bTerm = await next;
    expect(bTerm.token).toBeGreaterThan(aTerm.token);
    const after = log.slice(before);
    // The release arrived as an observation of "no holder", then exactly one attempt: held.
    const releasedAt = after.findIndex(
      (l) =>
        l.kind === 'watch' && l.event.type === 'observed' && l.event.observation.holder === null,
    );
    expect(releasedAt).toBeGreaterThanOrEqual(0);
    // Every attempt came after it (nothing else could trigger one: no poll or expiry timer is
    // due within the test), and the last one won. (Usually there is exactly one; on a loaded
    // machine a compare-and-swap may first lose against the leader's own late write.)
    const attempts = after.filter((l) => l.kind === 'attempt');
    expect(attempts.length).toBeGreaterThanOrEqual(1);
    expect(attempts.at(-1)).toEqual({ kind: 'attempt', mode: 'acquire', result: 'held' });
    expect(after.indexOf(attempts[0]!)).toBeGreaterThan(releasedAt);
  });

  test('the LISTEN connection killed by the server: down, then up again, and handoffs still go through the watch', async () => {
    const name = `relisten-${process.pid}-${counter++}`;
    const a = elector(name, 'a');
    void a.run();
    await a.waitForLeadership({ signal: AbortSignal.timeout(10_000) });
    const log: Logged[] = [];
    const b = elector(name, 'b', log);
    void b.run();
    await waitFor(
      () => log.some((l) => l.kind === 'watch' && l.event.type === 'up'),
      'b’s watch up',
      10_000,
    );
    const killed = await adminQuery(
      "SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity WHERE query LIKE 'LISTEN %' AND query LIKE $1",
      [`%${table}%`],
    );
    expect(killed.rowCount).toBeGreaterThanOrEqual(1);
    await waitFor(
      () => log.some((l) => l.kind === 'watch' && l.event.type === 'down'),
      'down',
      10_000,
    );
    const downAt = log.findIndex((l) => l.kind === 'watch' && l.event.type === 'down');
    await waitFor(
      () => log.slice(downAt).some((l) => l.kind === 'watch' && l.event.type === 'up'),
      'up again',
      10_000,
    );
    const before = log.length;
    const next = b.waitForLeadership({ signal: AbortSignal.timeout(10_000) });
    await a.stop();
    await next;
    const after = log.slice(before);
    const releasedAt = after.findIndex(
      (l) =>
        l.kind === 'watch' && l.event.type === 'observed' && l.event.observation.holder === null,
    );
    expect(releasedAt).toBeGreaterThanOrEqual(0);
    const attempts = after.filter((l) => l.kind === 'attempt');
    expect(attempts.at(-1)).toEqual({ kind: 'attempt', mode: 'acquire', result: 'held' });
    expect(after.indexOf(attempts[0]!)).toBeGreaterThan(releasedAt);
  });
});
