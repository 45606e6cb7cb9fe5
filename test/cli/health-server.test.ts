import { noop } from 'cockatiel';
import { describe, expect, test } from 'vitest';
import {
  createPrometheus,
  loadPrometheus,
  startHealthServer,
} from '../../src/cli/health-server.js';
import {
  ErrorCode,
  LeaderElectError,
  LeaderElector,
  type LeaseBackend,
  MemoryStore,
} from '../../src/index.js';

/** Resolves once the elector's readiness is `ready` (and its reason matches), by its event. */
function waitForReadiness(elector: LeaderElector, ready: boolean, reason: RegExp): Promise<void> {
  const matches = () =>
    elector.readiness().ready === ready && reason.test(elector.readiness().reason);
  if (matches()) return Promise.resolve();
  return new Promise((resolve) => {
    const check = () => {
      if (!matches()) return;
      elector.off('readiness', check);
      resolve();
    };
    elector.on('readiness', check);
  });
}

describe('--health-port endpoint', () => {
  test('/healthz follows elector.healthz; /metrics is Prometheus text with the election metrics', async () => {
    const prometheus = createPrometheus(await loadPrometheus(), 'jobs');
    const store = new MemoryStore();
    const elector = new LeaderElector({
      backend: store.lease('jobs'),
      name: 'jobs',
      identity: 'a',
      leaseDuration: 600,
      renewDeadline: 400,
      retryPeriod: 100,
      metrics: prometheus.sink,
    });
    let tolerance = 20_000;
    const server = await startHealthServer({
      address: '127.0.0.1',
      port: 0,
      health: () => elector.healthz(tolerance),
      registry: prometheus.registry,
    });
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      void elector.run();
      await elector.waitForLeadership();
      prometheus.childRunning(true);

      const healthy = await fetch(`${server.url}/healthz`);
      expect(healthy.status).toBe(200);
      expect(await healthy.text()).toBe('ok\n');

      const metrics = await fetch(`${server.url}/metrics`);
      expect(metrics.status).toBe(200);
      expect(metrics.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = await metrics.text();
      expect(text).toContain('leader_election_master_status{name="jobs"} 1');
      expect(text).toContain('leader_election_transitions_total{name="jobs"} 1');
      expect(text).toContain('leader_elect_child_running{name="jobs"} 1');
      expect(text).toContain('process_cpu_user_seconds_total');

      expect((await fetch(`${server.url}/nope`)).status).toBe(404);
      expect((await fetch(`${server.url}/healthz`, { method: 'POST' })).status).toBe(405);

      // A leader whose renewals stall beyond leaseDuration + tolerance is unhealthy: simulate it
      // with a negative tolerance (the rule is client-go's HealthzAdaptor).
      tolerance = -1_000;
      const unhealthy = await fetch(`${server.url}/healthz`);
      expect(unhealthy.status).toBe(500);
      expect(await unhealthy.text()).toMatch(
        /^leaderElection failed: leader "jobs" has not renewed/,
      );

      await elector.stop();
      tolerance = -1_000;
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200); // not leading: healthy
      const after = await (await fetch(`${server.url}/metrics`)).text();
      expect(after).toContain('leader_election_master_status{name="jobs"} 0');
    } finally {
      await elector.stop();
      await server.close();
    }
  });

  test('/readyz: 503 with the reason while the backend cannot be reached, 200 once it answers', async () => {
    const prometheus = createPrometheus(await loadPrometheus(), 'ready');
    const store = new MemoryStore();
    const inner = store.lease('ready');
    let reachable = false;
    const backend: LeaseBackend = {
      description: 'flaky',
      attempt: async (request) => {
        if (!reachable)
          throw new LeaderElectError(ErrorCode.BackendUnavailable, 'connection refused');
        return inner.attempt(request);
      },
      release: (request) => inner.release(request),
      close: () => inner.close(),
    };
    const elector = new LeaderElector({
      backend,
      identity: 'a',
      leaseDuration: 600,
      renewDeadline: 400,
      retryPeriod: 100,
      policy: noop,
    });
    elector.on('error', () => {});
    const server = await startHealthServer({
      address: '127.0.0.1',
      port: 0,
      health: () => elector.healthz(),
      readiness: () => elector.readiness(),
      registry: prometheus.registry,
    });
    try {
      void elector.run();
      await waitForReadiness(elector, false, /connection refused/);
      const notReady = await fetch(`${server.url}/readyz`);
      expect(notReady.status).toBe(503);
      expect(await notReady.text()).toBe('not ready: connection refused\n');
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200); // a follower is healthy
      reachable = true;
      await elector.waitForLeadership({ signal: AbortSignal.timeout(5_000) });
      const ready = await fetch(`${server.url}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.text()).toBe('ready\n');
    } finally {
      await elector.stop();
      await server.close();
    }
  });

  test('a port in use is one clear line, exit 2', async () => {
    const prometheus = createPrometheus(await loadPrometheus(), 'x');
    const first = await startHealthServer({
      address: '127.0.0.1',
      port: 0,
      health: () => ({ ok: true, message: '' }),
      registry: prometheus.registry,
    });
    const port = Number(new URL(first.url).port);
    await expect(
      startHealthServer({
        address: '127.0.0.1',
        port,
        health: () => ({ ok: true, message: '' }),
        registry: prometheus.registry,
      }),
    ).rejects.toMatchObject({
      exitCode: 2,
      message: `cannot listen on 127.0.0.1:${port} for --health-port: EADDRINUSE; choose another --health-port or --health-address`,
    });
    await first.close();
  });
});
