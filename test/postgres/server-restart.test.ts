/**
 * PostgreSQL stopped and started again while we lead, on a private server: the leader cannot
 * renew, so its term ends by its renew deadline (not later, and not as "lost": nobody else
 * could have taken it); errors are transient and typed; once the server is back an election
 * completes, with a higher token.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import {
  ErrorCode,
  type LeaderElectError,
  LeaderElector,
  type StopReason,
} from '../../src/index.js';
import { type PostgresFence, postgresBackend } from '../../src/postgres/index.js';
import { type PostgresServer, startPostgres } from '../env/postgres.mjs';
import { waitFor } from '../support/wait.js';

let server: PostgresServer;
beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  await server?.stop();
});

test('server down while leading: step-down by the renew deadline; back up: an election completes', async () => {
  const timings = { leaseDuration: 1500, renewDeadline: 1000, retryPeriod: 300 };
  const errors: LeaderElectError[] = [];
  const stopped: { reason: StopReason; at: number; validUntil: number }[] = [];
  const make = (identity: string) => {
    const e = new LeaderElector<PostgresFence>({
      backend: postgresBackend({ connectionString: server.url, name: 'restart' }),
      identity,
      ...timings,
    });
    e.on('error', (error) => errors.push(error));
    e.on('stoppedLeading', (term, reason) =>
      stopped.push({ reason, at: performance.now(), validUntil: term.validUntil }),
    );
    return e;
  };
  const a = make('a');
  const b = make('b');
  try {
    void a.run();
    const first = await a.waitForLeadership({ signal: AbortSignal.timeout(10_000) });
    void b.run();
    await waitFor(() => b.leader?.identity === 'a', 'b to observe a', 10_000);

    await server.shutdown();
    await waitFor(() => stopped.length > 0, 'a to step down', 10_000);
    expect(stopped[0]!.reason).toBe('renew-deadline');
    // The term ended at its deadline: no renewal could extend it after the server went away.
    expect(first.isValid()).toBe(false);
    expect(first.signal.aborted).toBe(true);
    expect(a.isLeader() || b.isLeader()).toBe(false);
    expect(errors.length).toBeGreaterThan(0);
    // Unreachable, or a call cut by its deadline: transient either way, never "free" or "lost".
    const lasting = errors.filter(
      (e) =>
        !(
          e.transient &&
          [ErrorCode.BackendUnavailable, ErrorCode.BackendTimeout].includes(e.code as never)
        ),
    );
    expect(lasting.map((e) => `${e.code}: ${e.message}`)).toEqual([]);

    await server.start();
    const leader = await waitFor(
      () => (a.isLeader() ? a : b.isLeader() ? b : undefined),
      'a leader once the server is back',
      20_000,
    );
    const term = leader.currentTerm();
    expect(term).not.toBeNull();
    expect(term!.token).toBeGreaterThan(first.token);
    // The successor's fence works on the restarted server.
    await term!.fence.transaction((client) => client.query('SELECT 1'));
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
});
