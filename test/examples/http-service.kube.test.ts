// examples/http-service.mjs: two replicas on a Lease of the real kube-apiserver; probes and the
// election view over HTTP; SIGTERM fails readiness, hands over at once, drains, and exits 0.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, inject, test } from 'vitest';
import { closedPort } from '../cli/support.js';
import { ensureNamespace } from '../kubernetes/support.js';
import { ExampleGroup, type ExampleProcess } from './support.js';

const namespace = 'le-examples';
const group = new ExampleGroup();
afterEach(() => group.killAll());

interface Replica {
  readonly proc: ExampleProcess;
  readonly port: number;
}

async function start(
  identity: string,
  leaseName: string,
  kubeconfig = inject('kubeAdminKubeconfig'),
): Promise<Replica> {
  const proc = group.start(identity, 'http-service.mjs', {
    KUBECONFIG: kubeconfig,
    NAMESPACE: namespace,
    LEASE_NAME: leaseName,
    POD_NAME: identity,
    HOST: '127.0.0.1',
    PORT: '0',
    DRAIN_MS: '3000',
    LEASE_DURATION_MS: '2000', // whole seconds: the Lease API's unit
    RENEW_DEADLINE_MS: '1500',
    RETRY_PERIOD_MS: '300',
  });
  const [, port] = await proc.waitForLine(/^\[\S+\] listening on port (\d+)$/);
  return { proc, port: Number(port) };
}

async function get(replica: Replica, path: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${replica.port}${path}`, {
    signal: AbortSignal.timeout(5_000),
  });
  return { status: response.status, body: (await response.text()).trim() };
}

const LEADING = /^\[(\S+)\] leading \(token (\d+)\)$/;

test('probes and the election over HTTP; SIGTERM hands over, drains and exits 0', async () => {
  await ensureNamespace(namespace);
  const leaseName = `http-service-${process.pid}-${Date.now().toString(36)}`;
  const replicas = [await start('a', leaseName), await start('b', leaseName)];

  const leader = await Promise.any(replicas.map((r) => r.proc.waitForLine(LEADING).then(() => r)));
  const follower = replicas.find((r) => r !== leader)!;
  await follower.proc.waitForLine(
    new RegExp(`^\\[${follower.proc.name}\\] leader is ${leader.proc.name}$`),
  );
  const firstToken = leader.proc.matching(LEADING)[0]![2]!;

  for (const replica of replicas) {
    expect(await get(replica, '/healthz')).toMatchObject({ status: 200 });
    expect(await get(replica, '/readyz')).toMatchObject({ status: 200 });
  }
  expect(JSON.parse((await get(leader, '/')).body)).toEqual({
    identity: leader.proc.name,
    leading: true,
    leader: leader.proc.name,
    token: firstToken,
  });
  expect(JSON.parse((await get(follower, '/')).body)).toEqual({
    identity: follower.proc.name,
    leading: false,
    leader: leader.proc.name,
    token: null,
  });
  expect(await get(follower, '/readyz')).toEqual({
    status: 200,
    body: `following ${leader.proc.name}`,
  });

  // SIGTERM: readiness fails, the lease is released (the follower leads at once), requests are
  // still served while draining, then the process exits 0.
  leader.proc.kill('SIGTERM');
  await leader.proc.waitForLine(/^\[\S+\] draining for 3000 ms$/);
  const [, , nextToken] = await follower.proc.waitForLine(LEADING, 5_000);
  expect(await get(leader, '/readyz')).toEqual({ status: 503, body: 'shutting down' });
  expect(JSON.parse((await get(leader, '/')).body)).toMatchObject({ leading: false });
  expect(BigInt(nextToken!)).toBeGreaterThan(BigInt(firstToken));
  expect(await get(follower, '/readyz')).toEqual({ status: 200, body: 'leading' });
  expect((await leader.proc.exit()).code, leader.proc.transcript()).toBe(0);
  expect(leader.proc.lines).toContain(
    `[${leader.proc.name}] stopped leading (token ${firstToken}): stopped`,
  );
  expect(leader.proc.lines.at(-1)).toBe(`[${leader.proc.name}] stopped`);

  follower.proc.kill('SIGTERM');
  expect((await follower.proc.exit()).code, follower.proc.transcript()).toBe(0);
});

test('an API server it cannot reach: healthy (a follower), not ready, with the reason', async () => {
  // The admin kubeconfig, aimed at a loopback port nobody listens on.
  const dir = mkdtempSync(join(tmpdir(), 'leader-elect-kubeconfig-'));
  const kubeconfig = join(dir, 'kubeconfig');
  const port = await closedPort();
  // test/env writes kubeconfigs as JSON (valid YAML).
  const config = JSON.parse(readFileSync(inject('kubeAdminKubeconfig'), 'utf8')) as {
    clusters: { cluster: { server: string } }[];
  };
  for (const { cluster } of config.clusters) cluster.server = `https://127.0.0.1:${port}`;
  writeFileSync(kubeconfig, JSON.stringify(config));
  try {
    const replica = await start('unreachable', 'http-service-unreachable', kubeconfig);
    const [, code] = await replica.proc.waitForLine(/^\[\S+\] error (LE_\w+): /);
    expect(code).toBe('LE_BACKEND_UNAVAILABLE');
    const NOT_READY = /^\[\S+\] not ready: (?!waiting for the first answer)(.*)$/;
    await replica.proc.waitForLine(NOT_READY);
    expect(await get(replica, '/healthz')).toMatchObject({ status: 200 });
    const ready = await get(replica, '/readyz');
    expect(ready.status).toBe(503);
    // The reason the elector gave last (a later failed attempt may give it again, or anew).
    expect(replica.proc.matching(NOT_READY).map(([, reason]) => reason)).toContain(ready.body);
    expect(ready.body).toMatch(/127\.0\.0\.1/);
    expect(replica.proc.matching(LEADING)).toEqual([]);
    replica.proc.kill('SIGTERM');
    expect((await replica.proc.exit()).code, replica.proc.transcript()).toBe(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
