#!/usr/bin/env node
/**
 * Coordinated leader election (KEP-4355): how long from the controller's `preferredHolder`
 * change to the new holder leading, ours next to client-go's coordinated candidates, on a private
 * kube-apiserver 1.37 (test environment) with the CoordinatedLeaderElection controller.
 *
 *   npm run build && node bench/kubernetes/coordinated-handover.mjs \
 *     [--trials 10] [--profile failover|production] [--implementation leader-elect,client-go] [--json FILE]
 *
 * Each trial, on a fresh Lease: an incumbent (emulation 1.33) leads; a challenger (emulation
 * 1.31) joins; the controller sets `preferredHolder` to the challenger; the incumbent stops
 * renewing and its term ends at its renew deadline; the Lease expires; the controller names the
 * challenger; the challenger leads. An independent watch (client-node's) timestamps the Lease's
 * versions; the candidates report their own start and end of leadership. Times are epoch ms on
 * this one machine. The controller's pace dominates (it re-checks Leases every 5 s and gives
 * pinged candidates 5 s to answer): this measures it, it does not tune against it.
 *
 * Bounded: `--trials` per implementation, each trial at most 90 s.
 */
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { KubeConfig, Watch } from '@kubernetes/client-node';
import { ensureBinaries } from '../../test/env/build.mjs';
import { kubeBinaryPath } from '../../test/env/kube/build.mjs';
import { startKubeApiserver } from '../../test/env/kube-apiserver.mjs';
import { percentile } from '../lib/stats.mjs';

const PROFILES = {
  failover: { leaseDuration: 2_000, renewDeadline: 1_500, retryPeriod: 500 },
  production: { leaseDuration: 15_000, renewDeadline: 10_000, retryPeriod: 2_000 },
};
const TRIAL_TIMEOUT_MS = 90_000;
const INCUMBENT = { binaryVersion: '1.34.0', emulationVersion: '1.33.0' };
const CHALLENGER = { binaryVersion: '1.34.0', emulationVersion: '1.31.0' };

const { values } = parseArgs({
  options: {
    trials: { type: 'string', default: '10' },
    profile: { type: 'string', default: 'failover' },
    implementation: { type: 'string', default: 'leader-elect,client-go' },
    json: { type: 'string' },
  },
});
const trials = Number(values.trials);
const timings = PROFILES[values.profile];
if (!Number.isInteger(trials) || trials < 1 || timings === undefined) {
  console.error('usage: coordinated-handover.mjs [--trials N] [--profile failover|production]');
  process.exit(2);
}
const implementations = values.implementation.split(',').map((s) => s.trim());
const epochMs = () => performance.timeOrigin + performance.now();
const log = (message) => process.stderr.write(`[coordinated] ${message}\n`);

const { kubernetesBackend } = await import('../../dist/kubernetes/index.js');
const { LeaderElector } = await import('../../dist/index.js');
const apiserverBinary = await kubeBinaryPath('kube-apiserver');
const candidateBinary = await kubeBinaryPath('client-go-candidate');
for (const path of [apiserverBinary, candidateBinary]) {
  if (!existsSync(path)) {
    console.error(`${path} is not built: run node test/env/kube/build.mjs first`);
    process.exit(2);
  }
}
const { etcd } = await ensureBinaries(['etcd']);
const env = await startKubeApiserver({ binary: apiserverBinary, etcdBinary: etcd });
const kubeConfig = new KubeConfig();
kubeConfig.loadFromFile(env.adminKubeconfig);
const namespace = 'default';

/** A candidate of ours in this process; `leading`/`ended` are epoch ms. */
function oursCandidate(lease, identity, versions) {
  const state = { identity, startedAt: null, endedAt: null, reason: null, errors: [] };
  const elector = new LeaderElector({
    backend: kubernetesBackend({ kubeConfig, namespace, name: lease, coordinated: versions }),
    identity,
    ...timings,
    onStartedLeading: () => {
      state.startedAt = epochMs();
    },
    onStoppedLeading: (_term, reason) => {
      state.endedAt = epochMs();
      state.reason = reason;
    },
  });
  elector.on('error', (error) => state.errors.push(`${error.code}: ${error.message}`));
  void elector.run();
  return { state, stop: () => elector.stop() };
}

/** client-go's coordinated candidate in a process of its own (JSON lines on stdout). */
function clientGoCandidate(lease, identity, versions) {
  const state = { identity, startedAt: null, endedAt: null, reason: null, errors: [] };
  const child = spawn(
    candidateBinary,
    [
      `--kubeconfig=${env.adminKubeconfig}`,
      `--namespace=${namespace}`,
      `--name=${lease}`,
      `--identity=${identity}`,
      `--lease-duration=${timings.leaseDuration}ms`,
      `--renew-deadline=${timings.renewDeadline}ms`,
      `--retry-period=${timings.retryPeriod}ms`,
      '--release-on-cancel=true',
      '--coordinated',
      `--binary-version=${versions.binaryVersion}`,
      `--emulation-version=${versions.emulationVersion}`,
    ],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  let partial = '';
  child.stdout.setEncoding('utf8').on('data', (chunk) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === '') continue;
      const event = JSON.parse(line);
      if (event.event === 'started_leading') state.startedAt = event.t;
      if (event.event === 'stopped_leading') state.endedAt = event.t;
    }
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    state,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Every version of the Lease as client-node's Watch delivers it (epoch ms at delivery). */
async function observe(lease) {
  const seen = [];
  const controller = await new Watch(kubeConfig).watch(
    `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`,
    { fieldSelector: `metadata.name=${lease}` },
    (type, object) => {
      if (type !== 'ADDED' && type !== 'MODIFIED') return;
      const spec = object.spec ?? {};
      seen.push({
        at: epochMs(),
        holder: spec.holderIdentity ?? '',
        preferredHolder: spec.preferredHolder ?? '',
        renewTimeMs: spec.renewTime ? new Date(spec.renewTime).getTime() : 0,
        leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
      });
    },
    () => undefined,
  );
  return { seen, stop: () => controller.abort() };
}

async function until(probe, what, deadline) {
  for (;;) {
    const value = probe();
    if (value) return value;
    if (epochMs() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function trial(impl, index) {
  const make = impl === 'leader-elect' ? oursCandidate : clientGoCandidate;
  const lease = `cle-bench-${impl}-${Date.now().toString(36)}-${index}`;
  const deadline = epochMs() + TRIAL_TIMEOUT_MS;
  const observer = await observe(lease);
  const incumbent = make(lease, `${impl}-incumbent-${index}`, INCUMBENT);
  let challenger = null;
  try {
    await until(() => incumbent.state.startedAt, 'the incumbent to lead', deadline);
    // A few renewals first, so the challenger meets a settled election.
    await new Promise((r) => setTimeout(r, timings.retryPeriod * 3));
    const joinedAt = epochMs();
    challenger = make(lease, `${impl}-challenger-${index}`, CHALLENGER);
    const { seen } = observer;
    const preferred = await until(
      () => seen.find((v) => v.preferredHolder === challenger.state.identity),
      'preferredHolder',
      deadline,
    );
    await until(() => challenger.state.startedAt, 'the challenger to lead', deadline);
    const named = seen.find((v) => v.holder === challenger.state.identity);
    const lastOld = seen.filter((v) => v.holder === incumbent.state.identity).at(-1);
    const expiry = lastOld.renewTimeMs + lastOld.leaseDurationSeconds * 1000;
    return {
      joinToPreferredMs: preferred.at - joinedAt,
      preferredToLeadingMs: challenger.state.startedAt - preferred.at,
      preferredToOldTermEndMs:
        incumbent.state.endedAt === null ? null : incumbent.state.endedAt - preferred.at,
      expiryToNamedMs: named === undefined ? null : named.at - expiry,
      namedToLeadingMs: named === undefined ? null : challenger.state.startedAt - named.at,
      oldStopReason: incumbent.state.reason,
      errors: [...incumbent.state.errors, ...challenger.state.errors],
    };
  } finally {
    observer.stop();
    await Promise.all([incumbent.stop(), challenger?.stop()]);
  }
}

const summary = (xs) => {
  const v = xs.filter((x) => typeof x === 'number');
  if (v.length === 0) return '–';
  return `${(percentile(v, 50) / 1000).toFixed(2)} / ${(percentile(v, 90) / 1000).toFixed(2)} / ${(Math.max(...v) / 1000).toFixed(2)}`;
};

const results = {};
try {
  for (const impl of implementations) {
    results[impl] = [];
    for (let i = 0; i < trials; i++) {
      try {
        const r = await trial(impl, i);
        results[impl].push(r);
        log(
          `${impl} #${i + 1}: preferred → leading ${(r.preferredToLeadingMs / 1000).toFixed(2)} s` +
            (r.errors.length > 0 ? ` (errors: ${r.errors.join('; ')})` : ''),
        );
      } catch (error) {
        results[impl].push({ failed: error.message });
        log(`${impl} #${i + 1}: ${error.message}`);
      }
    }
  }
} finally {
  await env.stop();
}

const columns = [
  ['preferredToLeadingMs', 'preferredHolder set → new holder leads'],
  ['preferredToOldTermEndMs', 'preferredHolder set → old term ends'],
  ['expiryToNamedMs', 'old Lease would expire → controller names new (< 0: handed back)'],
  ['namedToLeadingMs', 'named → new holder leads (its claim)'],
  ['joinToPreferredMs', 'challenger starts → preferredHolder set'],
];
console.log(
  `\nCoordinated handover, profile ${values.profile} (leaseDuration ${timings.leaseDuration} / renewDeadline ${timings.renewDeadline} / retryPeriod ${timings.retryPeriod} ms), ${trials} trials each; seconds p50 / p90 / max\n`,
);
console.log(`| | ${implementations.join(' | ')} |`);
console.log(`|---|${implementations.map(() => '---').join('|')}|`);
for (const [key, label] of columns) {
  console.log(
    `| ${label} | ${implementations.map((impl) => summary(results[impl].map((r) => r[key]))).join(' | ')} |`,
  );
}
const failed = implementations.map((impl) => results[impl].filter((r) => r.failed).length);
console.log(`| failed trials | ${failed.join(' | ')} |`);
const reasons = results['leader-elect']?.map((r) => r.oldStopReason).filter(Boolean) ?? [];
if (reasons.length > 0)
  console.log(`\nour incumbent's term ended by: ${[...new Set(reasons)].join(', ')}`);
if (values.json !== undefined) {
  writeFileSync(
    values.json,
    `${JSON.stringify({ profile: values.profile, timings, results }, null, 2)}\n`,
  );
}
