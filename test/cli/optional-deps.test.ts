// A user of one backend needs neither etcd3 nor @kubernetes/client-node (nor prom-client):
// the built package, installed next to its required dependencies only. The Kubernetes backend
// reads kubeconfigs itself and needs @kubernetes/client-node only for exec/auth-provider
// plugins and proxies.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
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
for (const dependency of ['cockatiel', 'eventemitter3', 'js-yaml']) {
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

  /** A kubeconfig for an apiserver on a port where nothing listens, with the given user. */
  const kubeconfig = (name: string, user: string) => {
    const path = join(install, `${name}.kubeconfig`);
    writeFileSync(
      path,
      `clusters:\n- name: c\n  cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}\nusers:\n- name: u\n  user:\n${user}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n`,
    );
    return path;
  };

  test('--backend kubernetes runs without @kubernetes/client-node (it gets as far as connecting)', () => {
    const path = kubeconfig('plain', '    token: t');
    const result = run([
      'status',
      '--backend',
      'kubernetes',
      '--kubeconfig',
      path,
      '--lease-name',
      'x',
    ]);
    expect(result.status).toBe(3);
    expect(lines(result.stderr)).toHaveLength(1);
    expect(result.stderr).toMatch(/^leader-elect status: cannot use Kubernetes Lease default\/x: /);
    expect(result.stderr).not.toContain('client-node');
  });

  test('--backend kubernetes with an exec credential plugin says which package to install', () => {
    const path = kubeconfig(
      'exec',
      '    exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/false}',
    );
    const result = run([
      'status',
      '--backend',
      'kubernetes',
      '--kubeconfig',
      path,
      '--lease-name',
      'x',
    ]);
    expect(result.status).toBe(3);
    expect(lines(result.stderr)).toEqual([
      'leader-elect status: --backend kubernetes needs the @kubernetes/client-node package for this kubeconfig (user "u" uses an exec credential plugin): npm install @kubernetes/client-node',
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
