import { describe, expect, test } from 'vitest';
import {
  createPrometheus,
  loadPrometheus,
  startHealthServer,
} from '../../src/cli/health-server.js';
import { LeaderElector, MemoryStore } from '../../src/index.js';

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
