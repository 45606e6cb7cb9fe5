/**
 * `loadKubeconfig` against the real apiserver: the kubeconfig files test/env writes, YAML
 * variants of them (relative and inline CA, token files, several files merged, a chosen
 * context, insecure-skip-tls-verify), a pod's service account, and an exec credential plugin
 * (handed to client-node). Each configuration is proved by what the apiserver does with it: the
 * elector wins a Lease (admin), or is refused with the typed RBAC error (restricted user).
 */
import { chmod, copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, test } from 'vitest';
import { ErrorCode, type LeaderElectError, LeaderElector } from '../../src/index.js';
import {
  type KubeClientConfig,
  kubernetesBackend,
  loadKubeconfig,
} from '../../src/kubernetes/index.js';
import { ensureNamespace, readLease, uniqueName } from './support.js';

const namespace = 'le-kubeconfig';
const timings = { leaseDuration: 2000, renewDeadline: 1500, retryPeriod: 300 };
const server = inject('kubeServer');
const caFile = inject('kubeCaFile');
const adminToken = inject('kubeAdminToken');
const restrictedToken = inject('kubeRestrictedToken');
let electors: LeaderElector[] = [];
let dir: string;

beforeAll(async () => {
  await ensureNamespace(namespace);
  dir = await mkdtemp(join(tmpdir(), 'leader-elect-kubeconfig-'));
  await copyFile(caFile, join(dir, 'ca.crt'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

afterEach(async () => {
  await Promise.all(electors.map((e) => e.stop()));
  electors = [];
});

/** Resolves once an elector on `kubeConfig` leads a new Lease; checks the Lease names it. */
async function leadsWith(kubeConfig: KubeClientConfig): Promise<void> {
  const name = uniqueName('kc');
  const identity = `${name}-holder`;
  const elector = new LeaderElector({
    backend: kubernetesBackend({ kubeConfig, namespace, name }),
    identity,
    ...timings,
    onStartedLeading: () => {},
  });
  electors.push(elector);
  elector.on('error', () => {});
  void elector.run();
  const term = await elector.waitForLeadership({ signal: AbortSignal.timeout(20_000) });
  expect(term.identity).toBe(identity);
  expect((await readLease(namespace, name))?.spec?.holderIdentity).toBe(identity);
}

/** The first error an elector on `kubeConfig` reports (it never leads). */
async function firstError(kubeConfig: KubeClientConfig): Promise<LeaderElectError> {
  const elector = new LeaderElector({
    backend: kubernetesBackend({ kubeConfig, namespace, name: uniqueName('kc-denied') }),
    ...timings,
    onStartedLeading: () => {
      throw new Error('must not lead');
    },
  });
  electors.push(elector);
  const error = new Promise<LeaderElectError>((resolve) => elector.on('error', resolve));
  void elector.run();
  return error;
}

const yamlConfig = (o: {
  cluster: string;
  user: string;
  contexts?: string;
  current?: string;
}): string => `apiVersion: v1
kind: Config
clusters:
${o.cluster}
users:
${o.user}
contexts:
${o.contexts ?? '- name: main\n  context: {cluster: main, user: main}'}
current-context: ${o.current ?? 'main'}
`;

describe.skipIf(server === undefined)('loadKubeconfig on a real apiserver', () => {
  test("the test environment's own kubeconfig files (JSON, absolute CA path)", async () => {
    const admin = await loadKubeconfig({ path: inject('kubeAdminKubeconfig') });
    expect(admin.getCurrentCluster()?.server).toBe(server);
    await leadsWith(admin);
    const restricted = await loadKubeconfig({ path: inject('kubeRestrictedKubeconfig') });
    expect((await firstError(restricted)).code).toBe(ErrorCode.PermissionDenied);
  });

  test('YAML with a CA path relative to the file, and a token', async () => {
    const path = join(dir, 'relative.yaml');
    await writeFile(
      path,
      yamlConfig({
        cluster: `- name: main\n  cluster:\n    server: ${server}\n    certificate-authority: ca.crt`,
        user: `- name: main\n  user:\n    token: ${adminToken}`,
      }),
    );
    const kubeConfig = await loadKubeconfig({ path });
    expect(kubeConfig.context).toBe('main');
    await leadsWith(kubeConfig);
  });

  test('certificate-authority-data and a token file (tokenFile and token-file)', async () => {
    const caData = (await readFile(caFile)).toString('base64');
    await writeFile(join(dir, 'admin.token'), `${adminToken}\n`);
    for (const field of ['tokenFile', 'token-file']) {
      const path = join(dir, `inline-${field}.yaml`);
      await writeFile(
        path,
        yamlConfig({
          cluster: `- name: main\n  cluster:\n    server: ${server}\n    certificate-authority-data: ${caData}`,
          user: `- name: main\n  user:\n    ${field}: admin.token`,
        }),
      );
      await leadsWith(await loadKubeconfig({ path }));
    }
  });

  test('insecure-skip-tls-verify without a CA', async () => {
    const path = join(dir, 'insecure.yaml');
    await writeFile(
      path,
      yamlConfig({
        cluster: `- name: main\n  cluster:\n    server: ${server}\n    insecure-skip-tls-verify: true`,
        user: `- name: main\n  user:\n    token: ${adminToken}`,
      }),
    );
    await leadsWith(await loadKubeconfig({ path }));
  });

  test('several files: the first definition and current-context win; a context can be chosen', async () => {
    const first = join(dir, 'merge-1.yaml');
    const second = join(dir, 'merge-2.yaml');
    const cluster = `- name: main\n  cluster:\n    server: ${server}\n    certificate-authority: ${caFile}`;
    await writeFile(
      first,
      yamlConfig({
        cluster,
        user: `- name: main\n  user:\n    token: ${restrictedToken}`,
        contexts: '- name: restricted\n  context: {cluster: main, user: main, namespace: ns-1}',
        current: 'restricted',
      }),
    );
    await writeFile(
      second,
      yamlConfig({
        // Same names as the first file: ignored. New names: added.
        cluster: `- name: main\n  cluster:\n    server: https://127.0.0.1:1\n- name: other\n  cluster:\n    server: ${server}\n    certificate-authority: ${caFile}`,
        user: `- name: main\n  user:\n    token: ${adminToken}\n- name: admin\n  user:\n    token: ${adminToken}`,
        contexts:
          '- name: restricted\n  context: {cluster: other, user: admin}\n- name: admin\n  context: {cluster: other, user: admin, namespace: ns-2}',
        current: 'admin',
      }),
    );
    const merged = await loadKubeconfig({ path: [first, second] });
    expect(merged.context).toBe('restricted');
    expect(merged.contexts).toEqual(['restricted', 'admin']);
    expect(merged.namespace).toBe('ns-1');
    expect(merged.source).toBe([first, second].join(delimiter));
    expect((await firstError(merged)).code).toBe(ErrorCode.PermissionDenied);

    const admin = await loadKubeconfig({ path: [first, second], context: 'admin' });
    expect(admin.namespace).toBe('ns-2');
    await leadsWith(admin);
  });

  test("a pod's service account (token, ca.crt, namespace; KUBERNETES_SERVICE_HOST/PORT)", async () => {
    const account = await mkdtemp(join(dir, 'serviceaccount-'));
    await writeFile(join(account, 'token'), adminToken);
    await copyFile(caFile, join(account, 'ca.crt'));
    await writeFile(join(account, 'namespace'), `${namespace}\n`);
    const url = new URL(server);
    const saved = { ...process.env };
    try {
      process.env.HOME = account; // no ~/.kube/config there
      process.env.KUBECONFIG = '';
      process.env.KUBERNETES_SERVICE_HOST = url.hostname;
      process.env.KUBERNETES_SERVICE_PORT = url.port;
      const kubeConfig = await loadKubeconfig({ serviceAccountDir: account });
      expect(kubeConfig.context).toBe('inClusterContext');
      expect(kubeConfig.namespace).toBe(namespace);
      expect(kubeConfig.getCurrentCluster()?.server).toBe(`https://${url.hostname}:${url.port}`);
      await leadsWith(kubeConfig);
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

  test('an exec credential plugin is handed to client-node, which runs it', async () => {
    const plugin = join(dir, 'credential-plugin.mjs');
    const ran = join(dir, 'plugin-ran');
    await writeFile(
      plugin,
      `#!${process.execPath}
import { writeFileSync } from 'node:fs';
writeFileSync(${JSON.stringify(ran)}, 'yes');
process.stdout.write(JSON.stringify({
  apiVersion: 'client.authentication.k8s.io/v1',
  kind: 'ExecCredential',
  status: { token: ${JSON.stringify(adminToken)} },
}));
`,
    );
    await chmod(plugin, 0o755);
    const path = join(dir, 'exec.yaml');
    await writeFile(
      path,
      yamlConfig({
        cluster: `- name: main\n  cluster:\n    server: ${server}\n    certificate-authority: ${caFile}`,
        user: `- name: main\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: ${plugin}\n      interactiveMode: Never`,
      }),
    );
    await leadsWith(await loadKubeconfig({ path }));
    expect(await readFile(ran, 'utf8')).toBe('yes');
  });
});
