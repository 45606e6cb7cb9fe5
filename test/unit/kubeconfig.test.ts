/**
 * `loadKubeconfig` without a server: bad input gets a typed `LE_INVALID_OPTION` naming the file
 * and the entry, and for the configurations it reads itself, the TLS options and headers it
 * gives each request are the ones client-node's `KubeConfig` gives (what users of the backend got
 * before it had a loader of its own). The apiserver-facing cases are in
 * test/kubernetes/kubeconfig.test.ts.
 */

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ErrorCode, isLeaderElectError } from '../../src/index.js';
import { loadKubeconfig } from '../../src/kubernetes/index.js';

let dir: string;
const pem = (label: string) =>
  `-----BEGIN ${label}-----\n${Buffer.from(label).toString('base64')}\n-----END ${label}-----\n`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'leader-elect-kubeconfig-unit-'));
  await mkdir(join(dir, 'certs'));
  await writeFile(join(dir, 'certs', 'ca.pem'), pem('CA'));
  await writeFile(join(dir, 'certs', 'client.pem'), pem('CERTIFICATE'));
  await writeFile(join(dir, 'certs', 'client-key.pem'), pem('PRIVATE KEY'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let counter = 0;
async function file(text: string): Promise<string> {
  const path = join(dir, `config-${counter++}.yaml`);
  await writeFile(path, text);
  return path;
}

const cluster = (body: string) =>
  `clusters:\n- name: c\n  cluster:\n${body}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n`;

async function rejection(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    if (!isLeaderElectError(error)) throw error;
    return { code: error.code, message: error.message };
  }
  throw new Error('expected a rejection');
}

describe('bad input: LE_INVALID_OPTION, naming what to fix', () => {
  test.each([
    [
      'a file that does not exist',
      async () => join(dir, 'nope.yaml'),
      /cannot read the kubeconfig .*nope\.yaml: no such file \(ENOENT\)/,
    ],
    ['invalid YAML', () => file('clusters: [\n  - {'), /is not valid YAML/],
    ['a YAML list, not a mapping', () => file('- a\n- b\n'), /is not a mapping/],
    ['clusters that are not a list', () => file('clusters: {a: 1}\n'), /clusters must be a list/],
    [
      'an entry without a name',
      () => file('users:\n- user: {token: t}\n'),
      /users\[0\] needs a name/,
    ],
    [
      'a cluster without a server',
      () => file(cluster('    certificate-authority: ca.pem')),
      /clusters\[0\] \("c"\)\.cluster\.server is missing/,
    ],
    [
      'a token that is not a string',
      () =>
        file(
          `${cluster('    server: https://127.0.0.1:6443')}users:\n- name: u\n  user: {token: 12345}\n`,
        ),
      /users\[0\] \("u"\)\.user\.token must be a string, got number/,
    ],
    [
      'insecure-skip-tls-verify that is not a boolean',
      () =>
        file(cluster('    server: https://127.0.0.1:6443\n    insecure-skip-tls-verify: "yes"')),
      /insecure-skip-tls-verify must be true or false/,
    ],
    [
      'no current-context and no context chosen',
      () =>
        file(
          'clusters:\n- name: c\n  cluster: {server: "https://a:1"}\ncontexts:\n- name: x\n  context: {cluster: c}\n',
        ),
      /sets no current-context: choose a context \(known: x\)/,
    ],
    [
      'a current-context that is not defined',
      () =>
        file(
          `${cluster('    server: https://127.0.0.1:6443').replace('current-context: x', 'current-context: gone')}`,
        ),
      /has no context "gone" \(known: x\)/,
    ],
    [
      'a context naming an undefined cluster',
      () => file('contexts:\n- name: x\n  context: {cluster: missing}\ncurrent-context: x\n'),
      /context "x" names cluster "missing", which is not defined/,
    ],
    [
      'a CA file that cannot be read',
      () =>
        file(
          cluster('    server: https://127.0.0.1:6443\n    certificate-authority: missing-ca.pem'),
        ),
      /cannot read .*missing-ca\.pem: no such file \(ENOENT\)/,
    ],
    [
      'plain HTTP without insecure-skip-tls-verify',
      () => file(cluster('    server: http://127.0.0.1:8080')),
      /served over plain HTTP .*set insecure-skip-tls-verify: true/,
    ],
    [
      'a server that is not a URL',
      () => file(cluster('    server: 127.0.0.1:6443')),
      /neither an https:\/\/ nor an http:\/\/ URL/,
    ],
  ])('%s', async (_what, make, message) => {
    const path = await make();
    const { code, message: text } = await rejection(loadKubeconfig({ path }));
    expect(code).toBe(ErrorCode.InvalidOption);
    expect(text).toMatch(message);
  });

  test('a context that is not defined, chosen by option', async () => {
    const path = await file(cluster('    server: https://127.0.0.1:6443'));
    const { code, message } = await rejection(loadKubeconfig({ path, context: 'prod' }));
    expect(code).toBe(ErrorCode.InvalidOption);
    expect(message).toMatch(/has no context "prod" \(known: x\)/);
  });

  test('bad options', async () => {
    for (const options of [{ path: '' }, { path: [] }, { context: '' }] as const) {
      const { code } = await rejection(loadKubeconfig(options as never));
      expect(code).toBe(ErrorCode.InvalidOption);
    }
  });

  test('no kubeconfig anywhere; a service account token outside a pod', async () => {
    const saved = { ...process.env };
    const home = await mkdtemp(join(dir, 'home-'));
    const account = await mkdtemp(join(dir, 'account-'));
    try {
      process.env.HOME = home;
      process.env.KUBECONFIG = '';
      delete process.env.KUBERNETES_SERVICE_HOST;
      delete process.env.KUBERNETES_SERVICE_PORT;
      const none = await rejection(loadKubeconfig({ serviceAccountDir: account }));
      expect(none.code).toBe(ErrorCode.InvalidOption);
      expect(none.message).toBe(
        `no kubeconfig found: $KUBECONFIG is not set, ${join(home, '.kube', 'config')} does not exist, and this is not a pod (no service account token ${join(account, 'token')})`,
      );
      await writeFile(join(account, 'token'), 'token');
      const outside = await rejection(loadKubeconfig({ serviceAccountDir: account }));
      expect(outside.message).toMatch(
        /KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not both set/,
      );
    } finally {
      for (const key of [
        'HOME',
        'KUBECONFIG',
        'KUBERNETES_SERVICE_HOST',
        'KUBERNETES_SERVICE_PORT',
      ]) {
        if (saved[key] === undefined) delete process.env[key];
        else process.env[key] = saved[key];
      }
    }
  });
});

/** What a configuration puts into one request's options, in comparable form. */
async function requestOptions(config: {
  applyToHTTPSOptions(options: https.RequestOptions): Promise<void>;
}) {
  const options: https.RequestOptions = { headers: {} };
  await config.applyToHTTPSOptions(options);
  const headers = Object.fromEntries(
    Object.entries(options.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]),
  );
  return {
    ca: options.ca?.toString(),
    cert: options.cert?.toString(),
    key: options.key?.toString(),
    rejectUnauthorized: options.rejectUnauthorized,
    servername: options.servername,
    auth: options.auth ?? undefined,
    headers,
  };
}

describe('the same request options as client-node', () => {
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  test.each([
    [
      'CA, client certificate and key as files (relative paths)',
      'certificate-authority: certs/ca.pem',
      'client-certificate: certs/client.pem\n    client-key: certs/client-key.pem',
    ],
    [
      'CA, client certificate and key inline',
      `certificate-authority-data: ${b64(pem('CA'))}`,
      `client-certificate-data: ${b64(pem('CERTIFICATE'))}\n    client-key-data: ${b64(pem('PRIVATE KEY'))}`,
    ],
    ['a bearer token, TLS server name', 'tls-server-name: api.example', 'token: abc.def'],
    [
      'basic auth and impersonation',
      'insecure-skip-tls-verify: true',
      'username: alice\n    password: s3cret\n    as: bob',
    ],
  ])('%s', async (_what, clusterFields, userFields) => {
    const path = await file(
      `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://127.0.0.1:6443
    ${clusterFields}
users:
- name: u
  user:
    ${userFields}
contexts:
- name: x
  context: {cluster: c, user: u}
current-context: x
`,
    );
    const ours = await loadKubeconfig({ path });
    const theirs = new KubeConfig();
    theirs.loadFromFile(path);
    expect(ours.getCurrentCluster()).toEqual({ name: 'c', server: 'https://127.0.0.1:6443' });
    const expected = await requestOptions(theirs);
    expect(await requestOptions(ours)).toEqual(expected);
    // The comparison is not vacuous: each case sets something.
    expect(Object.values(expected).filter((v) => v !== undefined).length).toBeGreaterThan(1);
  });
});
