// Errors that name the cause the user can act on: one line each, as `leader-elect` prints it.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { closedPort, lines, runCli } from './support.js';

const etcd = ['--backend', 'etcd', '--election', 'errors'];

function oneLine(args: readonly string[], code: number, env: NodeJS.ProcessEnv = process.env) {
  const result = runCli(args, { env });
  expect(result.status, result.stderr).toBe(code);
  expect(lines(result.stderr), result.stderr).toHaveLength(1);
  return lines(result.stderr)[0] as string;
}

describe('errors name their cause', () => {
  test('nobody listening: connection refused, naming the address', async () => {
    const port = await closedPort();
    const line = oneLine(
      ['status', ...etcd, '--endpoints', `http://127.0.0.1:${port}`, '--connect-timeout', '2s'],
      3,
    );
    expect(line).toContain(`connection refused by 127.0.0.1:${port} (nothing listens there`);
  });

  test('a host name that does not resolve: DNS', () => {
    const line = oneLine(
      [
        'status',
        ...etcd,
        '--endpoints',
        'http://no-such-host.invalid:2379',
        '--connect-timeout',
        '2s',
      ],
      3,
    );
    expect(line).toContain('cannot resolve no-such-host.invalid (DNS)');
  });

  test('no kubeconfig anywhere: says so, and where it looked', () => {
    const home = mkdtempSync(join(tmpdir(), 'leader-elect-nohome-'));
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, KUBECONFIG: '' };
    delete env.KUBERNETES_SERVICE_HOST;
    const line = oneLine(['status', '--backend', 'kubernetes', '--lease-name', 'x'], 3, env);
    expect(line).toBe(
      `leader-elect status: no kubeconfig found: $KUBECONFIG is not set, ${join(home, '.kube', 'config')} does not exist, and this is not a pod (no KUBERNETES_SERVICE_HOST and service account token /var/run/secrets/kubernetes.io/serviceaccount/token); pass --kubeconfig FILE`,
    );
  });

  test("the command's own flags without -- : the hint about --", () => {
    const short = oneLine(['run', ...etcd, 'sh', '-c', 'echo hi'], 2);
    expect(short).toBe(
      'leader-elect run: unknown flag -c after "sh": put the command and its flags after --, e.g. leader-elect run [options] -- sh -c …',
    );
    const long = oneLine(['run', ...etcd, 'node', 'worker.js', '--port', '80'], 2);
    expect(long).toContain("if it is the command's, put the command after --");
  });
});
