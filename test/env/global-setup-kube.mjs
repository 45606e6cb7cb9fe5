// vitest globalSetup for the Kubernetes tests: builds kube-apiserver and the
// client-go candidate from test/env/kube (cached; a cold build takes 10-25
// minutes on 2 cores), takes etcd from test/env/build.mjs, starts one shared
// kube-apiserver on its own etcd for the whole run, and hands paths and
// credentials to the tests through provide()/inject():
//
//   kubeServer                string   https URL of the apiserver
//   kubeCaFile                string   CA of its serving certificate
//   kubeAuditLog              string   audit log (JSON lines) of every request on leases
//   kubeAdminKubeconfig       string   kubeconfig of "admin" (system:masters)
//   kubeRestrictedKubeconfig  string   kubeconfig of "restricted" (RBAC: nothing granted)
//   kubeRestrictedUser        string   "restricted", for RoleBindings
//   kubeAdminToken / kubeRestrictedToken  bearer tokens
//   kubeVersion               string   e.g. v1.37.2
//   clientGoCandidateBinary   string   test/env/kube/cmd/client-go-candidate
//   kubeApiserverBinary       string   for tests that start their own (HA)
//   kubeEtcdBinary            string   etcd for those
//
// Types for inject() are in test/kubernetes/vitest-provided-kube.d.ts.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ensureBinaries } from './build.mjs';
import { ensureKubeBinaries } from './kube/build.mjs';
import { RESTRICTED_USER, startKubeApiserver } from './kube-apiserver.mjs';

/** @param {import('vitest/node').TestProject} project */
export default async function setup({ provide }) {
  const { kubeApiserver, clientGoCandidate } = await ensureKubeBinaries();
  const { etcd } = await ensureBinaries(['etcd']);
  const env = await startKubeApiserver({ binary: kubeApiserver, etcdBinary: etcd });
  const { stdout } = await promisify(execFile)(kubeApiserver, ['--version']);

  provide('kubeServer', env.server);
  provide('kubeCaFile', env.caFile);
  provide('kubeAuditLog', env.auditLogs[0]);
  provide('kubeAdminKubeconfig', env.adminKubeconfig);
  provide('kubeRestrictedKubeconfig', env.restrictedKubeconfig);
  provide('kubeRestrictedUser', RESTRICTED_USER);
  provide('kubeAdminToken', env.adminToken);
  provide('kubeRestrictedToken', env.restrictedToken);
  provide('kubeVersion', stdout.trim().replace(/^Kubernetes /, ''));
  provide('clientGoCandidateBinary', clientGoCandidate);
  provide('kubeApiserverBinary', kubeApiserver);
  provide('kubeEtcdBinary', etcd);

  return async () => {
    await env.stop();
  };
}
