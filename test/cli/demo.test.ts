import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const main = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

test('`leader-elect demo` shows a crash failover and a graceful handoff, and exits 0 by itself', () => {
  const started = performance.now();
  const result = spawnSync(process.execPath, [main, 'demo'], { encoding: 'utf8', timeout: 30_000 });
  const seconds = (performance.now() - started) / 1000;
  expect(result.status, result.stderr).toBe(0);
  expect(seconds).toBeLessThan(30);
  const out = result.stdout;
  expect(out).toContain('leads with fencing token 0');
  expect(out).toContain('crashes: stops renewing');
  expect(out).toContain('leads with fencing token 1');
  expect(out).toContain('leads with fencing token 2');
  expect(out).toMatch(/terms \(fencing tokens, strictly increasing\): 0 → 1 → 2/);
  expect(out).toMatch(/rejected: 0/);
  // The failover happened after the lease expired, never before.
  const excess = /crash failover [\d.]+ ms \(lease expiry \+ (-?[\d.]+) ms\)/.exec(out);
  expect(excess).not.toBeNull();
  expect(Number(excess![1])).toBeGreaterThanOrEqual(0);
});

test('unknown commands exit 2 with one clear line', () => {
  const result = spawnSync(process.execPath, [main, 'frobnicate'], { encoding: 'utf8' });
  expect(result.status).toBe(2);
  expect(result.stderr.trim()).toBe(
    'leader-elect: unknown command "frobnicate"; run "leader-elect --help"',
  );
});
