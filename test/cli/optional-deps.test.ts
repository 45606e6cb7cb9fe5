// A user of one backend needs neither etcd3 nor @kubernetes/client-node (nor prom-client):
// the built package, installed next to its required dependencies only.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { lines } from './support.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const install = mkdtempSync(join(tmpdir(), 'leader-elect-bare-'));
afterAll(() => rmSync(install, { recursive: true, force: true }));

cpSync(join(root, 'dist'), join(install, 'dist'), { recursive: true });
cpSync(join(root, 'package.json'), join(install, 'package.json'));
mkdirSync(join(install, 'node_modules'));
for (const dependency of ['cockatiel', 'eventemitter3']) {
  symlinkSync(join(root, 'node_modules', dependency), join(install, 'node_modules', dependency));
}
const cli = join(install, 'dist', 'cli', 'main.js');

function run(args: readonly string[]) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 30_000 });
}

describe('without the optional peer dependencies', () => {
  test('--backend etcd says which package to install (exit 3, one line)', () => {
    const result = run(['run', '--backend', 'etcd', '--election', 'x', '--', 'true']);
    expect(result.status).toBe(3);
    expect(lines(result.stderr)).toEqual([
      'leader-elect run: --backend etcd needs the etcd3 package: npm install etcd3',
    ]);
  });

  test('--backend kubernetes says which package to install', () => {
    const result = run(['status', '--backend', 'kubernetes', '--lease-name', 'x']);
    expect(result.status).toBe(3);
    expect(lines(result.stderr)).toEqual([
      'leader-elect status: --backend kubernetes needs the @kubernetes/client-node package: npm install @kubernetes/client-node',
    ]);
  });

  test('--backend postgres says which package to install', () => {
    const result = run([
      'status',
      '--backend',
      'postgres',
      '--connection-string',
      'postgres://u@127.0.0.1:1/db',
      '--election',
      'x',
    ]);
    expect(result.status).toBe(3);
    expect(lines(result.stderr)).toEqual([
      'leader-elect status: --backend postgres needs the pg package: npm install pg',
    ]);
  });

  test('--health-port without prom-client: exit 2, before connecting', () => {
    const result = run([
      'run',
      '--backend',
      'etcd',
      '--election',
      'x',
      '--health-port',
      '0',
      '--',
      'true',
    ]);
    expect(result.status).toBe(2);
    expect(lines(result.stderr)).toEqual([
      'leader-elect run: --health-port needs the prom-client package for /metrics: npm install prom-client (or run without --health-port)',
    ]);
  });

  test('the demo runs on the memory backend alone', () => {
    const result = run(['demo']);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/terms \(fencing tokens, strictly increasing\): 0 → 1 → 2/);
  });

  test('help and usage errors work', () => {
    expect(run(['run', '--help']).status).toBe(0);
    expect(
      run(['run', '--backend', 'etcd', '--election', 'x', '--lease-duration', '15']).status,
    ).toBe(2);
  });
});
