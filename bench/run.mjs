#!/usr/bin/env node
/**
 * Failover-latency and load benchmarks: ours and every peer that can run a scenario, in the
 * same invocation, on the same servers (started and stopped here from the test environment).
 *
 *   npm run bench -- [--backend memory,etcd,kubernetes] [--scenario graceful,crash,...]
 *                    [--implementation ID,...] [--trials N] [--quick] [--json FILE]
 *                    [--out DIR] [--no-docs]
 *
 * Every figure in the output comes from this invocation; the machine, versions and settings are
 * recorded next to them. See docs/benchmarks.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startEtcdBackend } from './lib/backends/etcd.mjs';
import { startKubernetesBackend } from './lib/backends/kubernetes.mjs';
import { startPostgresBackend } from './lib/backends/postgres.mjs';
import { startFencedResource } from './lib/fenced-resource.mjs';
import { currentLoad, describeMachine } from './lib/machine.mjs';
import { crashTrial, gracefulTrial, transferTrial } from './lib/memory.mjs';
import { writeReport } from './lib/report/write.mjs';
import { coldStartScenario } from './lib/scenarios/cold-start.mjs';
import { crashScenario } from './lib/scenarios/crash.mjs';
import { gracefulScenario } from './lib/scenarios/graceful.mjs';
import { observeScenario } from './lib/scenarios/observe.mjs';
import { pauseScenario } from './lib/scenarios/pause.mjs';
import { renewLoadScenario, renewLoadWindow } from './lib/scenarios/renew-load.mjs';
import { scaleScenario } from './lib/scenarios/scale.mjs';
import { transferScenario } from './lib/scenarios/transfer.mjs';
import { round, summarize } from './lib/stats.mjs';

const BACKENDS = ['memory', 'etcd', 'kubernetes', 'postgres'];
const SCENARIOS = [
  'graceful',
  'transfer',
  'crash',
  'pause',
  'renew-load',
  'scale',
  'cold-start',
  'observe',
];
const USAGE = `npm run bench -- [options]
  --backend LIST         ${BACKENDS.join(',')} (default: all; those that cannot start are skipped)
  --scenario LIST        ${SCENARIOS.join(',')} (default: all)
  --implementation LIST  only these implementations (ids as in the report, e.g. leader-elect,go-concurrency;
                         observe: observer ids, e.g. watch-cli,observe-poll — leader-elect means all of ours)
  --trials N             trials per latency scenario and implementation (default: per scenario;
                         observe: leader changes per kind, graceful and crash)
  --quick                a short run (CI): fewer trials, shorter windows
  --json FILE            also write the result rows (JSON array) to FILE
  --out DIR              where the report goes (default: bench/results for a complete run, i.e. no
                         --quick and no selection; otherwise bench/results/tmp, ignored by git)
  --no-docs              do not regenerate the results section of docs/benchmarks.md (only a
                         complete run into bench/results does)
  --scale-sizes LIST     election counts of the scale scenario (default 1,100,1000,10000;
                         e.g. 100000 for the 100,000-election row, which a default run leaves out)`;

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: BACKENDS.join(',') },
    scenario: { type: 'string', default: SCENARIOS.join(',') },
    implementation: { type: 'string' },
    trials: { type: 'string' },
    quick: { type: 'boolean', default: false },
    json: { type: 'string' },
    out: { type: 'string' },
    'no-docs': { type: 'boolean', default: false },
    'scale-sizes': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

const list = (s) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
const backends = list(values.backend);
const scenarios = list(values.scenario);
const only = values.implementation === undefined ? null : new Set(list(values.implementation));
for (const b of backends) {
  if (!BACKENDS.includes(b)) fail(`unknown backend "${b}" (known: ${BACKENDS.join(', ')})`);
}
for (const s of scenarios) {
  if (!SCENARIOS.includes(s)) fail(`unknown scenario "${s}" (known: ${SCENARIOS.join(', ')})`);
}
const explicitTrials = values.trials === undefined ? undefined : Number(values.trials);
if (explicitTrials !== undefined && (!Number.isInteger(explicitTrials) || explicitTrials < 1)) {
  fail(`--trials must be a positive integer, got "${values.trials}"`);
}

function fail(message) {
  console.error(`bench: ${message}\n\n${USAGE}`);
  process.exit(2);
}

const quick = values.quick;
const t0Run = performance.now();
const log = (message) =>
  process.stderr.write(
    `[bench ${((performance.now() - t0Run) / 1000).toFixed(1).padStart(6)} s] ${message}\n`,
  );

/**
 * Timing profiles. `failover`: as short as each server allows, so crash and pause trials are
 * quick (etcd's minimum lease TTL here is 1 s; Kubernetes counts whole seconds). `production`:
 * client-go's defaults (15 s / 10 s / 2 s), for the steady-state traffic scenarios.
 */
const PROFILES = {
  memory: { failover: { leaseDuration: 4_000, renewDeadline: 3_000, retryPeriod: 2_000 } },
  etcd: {
    failover: { leaseDuration: 2_000, renewDeadline: 1_500, retryPeriod: 500 },
    production: { leaseDuration: 15_000, renewDeadline: 10_000, retryPeriod: 2_000 },
  },
  kubernetes: {
    failover: { leaseDuration: 2_000, renewDeadline: 1_500, retryPeriod: 500 },
    production: { leaseDuration: 15_000, renewDeadline: 10_000, retryPeriod: 2_000 },
  },
  // Milliseconds are exact on PostgreSQL; the same figures as etcd and Kubernetes for comparison.
  postgres: {
    failover: { leaseDuration: 2_000, renewDeadline: 1_500, retryPeriod: 500 },
    production: { leaseDuration: 15_000, renewDeadline: 10_000, retryPeriod: 2_000 },
  },
};

/** Trials (or windows) per scenario; --trials overrides the latency scenarios. */
const PLAN = {
  // Kubernetes trials wait 1.5 s for the follower to settle (client-go polls), so fewer of them.
  graceful: {
    trials: quick ? 10 : 200,
    kubernetesTrials: quick ? 5 : 100,
    memoryTrials: quick ? 50 : 500,
  },
  // One lane: a candidate starting up in a parallel lane (Node imports take ~1 s of CPU) would delay
  // another lane's takeover on a 2-core machine.
  crash: {
    trials: quick ? 3 : 30,
    lanes: 1,
    memoryTrials: quick ? 5 : 40,
    slowPeerTrials: quick ? 0 : 2,
  },
  // Against a plain graceful handoff of the same backend in the same run (ours only: no peer can).
  transfer: { trials: quick ? 5 : 200, memoryTrials: quick ? 50 : 500 },
  pause: { trials: quick ? 1 : 10, slowPeerTrials: quick ? 0 : 1 },
  'cold-start': { trials: quick ? 2 : 10, candidates: 3 },
  // Leader changes per kind, each seen by every observer at once. A crash trial waits for expiry.
  observe: { gracefulTrials: quick ? 5 : 100, crashTrials: quick ? 3 : 30 },
  // The window is at least three renewal intervals of each implementation.
  'renew-load': { windowMs: quick ? 4_000 : 30_000, quickMaxWindowMs: 20_000 },
  scale: {
    sizes:
      values['scale-sizes'] !== undefined
        ? list(values['scale-sizes']).map(Number)
        : quick
          ? [1, 10_000]
          : [1, 100, 1_000, 10_000],
    windowMs: quick ? 4_000 : 15_000,
    // After the last election is won. V8 keeps the heap it grew during the start-up burst until
    // its memory reducer runs (at a low allocation rate, at the latest about 100 s after the last
    // full GC); the window measures the steady state after that, the peak column the burst.
    warmupMs: quick ? 1_500 : 60_000,
    // All electors start at once; past this the window is measured anyway (the row says how many won).
    readyTimeoutMs: quick ? 20_000 : 120_000,
    stopGraceMs: quick ? 5_000 : 30_000,
  },
};

/** Missed takeovers in a row after which an implementation's scenario stops (each costs a timeout). */
const maxMisses = quick ? 1 : 3;
const runId = Date.now().toString(36);
const rows = [];
const samples = {};
const skipped = [];
const backendInfo = [];
const started = performance.now();
const machine = await describeMachine();

function record(row, rowSamples) {
  rows.push(row);
  if (rowSamples)
    samples[
      `${row.backend}/${row.scenario}/${row.implementation}${row.elections ? `/${row.elections}` : ''}${row.change ? `/${row.change}` : ''}`
    ] = rowSamples;
}

function skip(backend, scenario, implementation, reason) {
  skipped.push({ backend, scenario, implementation, reason });
  log(`skip ${[backend, scenario, implementation].filter(Boolean).join(' ')}: ${reason}`);
}

function progressLogger(backend, scenario, implementation) {
  let last = 0;
  return (done, total, values) => {
    const now = performance.now();
    if (done !== total && now - last < 2_000 && done % 50 !== 0) return;
    last = now;
    const s = summarize(values);
    log(
      `${backend} ${scenario} ${implementation}: ${done}/${total} trials (p50 ${s.p50Ms} ms, max ${s.maxMs} ms)`,
    );
  };
}

function latencyRow(base, result) {
  const latency = summarize(result.samples);
  const row = { ...base, trials: result.samples.length, ...latency };
  if (result.missed) row.missedTakeovers = result.missed;
  if (result.excess !== undefined) {
    const ex = summarize(result.excess);
    Object.assign(row, {
      excessP50Ms: ex.p50Ms,
      excessP99Ms: ex.p99Ms,
      excessMaxMs: ex.maxMs,
      excessTrials: result.excess.length,
      expiryMethod: result.expiryMethod,
    });
    if (result.afterDelete?.length > 0) {
      const after = summarize(result.afterDelete);
      Object.assign(row, {
        afterDeleteP50Ms: after.p50Ms,
        afterDeleteP99Ms: after.p99Ms,
        afterDeleteMaxMs: after.maxMs,
      });
    }
    if (result.excessByRenewTime?.length > 0) {
      const cross = summarize(result.excessByRenewTime);
      Object.assign(row, {
        excessByRenewTimeP50Ms: cross.p50Ms,
        excessByRenewTimeP99Ms: cross.p99Ms,
        excessByRenewTimeMinMs: round(Math.min(...result.excessByRenewTime)),
      });
    }
    if (result.excessUnknown)
      Object.assign(row, {
        excessUnknown: result.excessUnknown,
        excessUnknownWhy: result.excessUnknownWhy,
      });
  }
  return row;
}

// ---------------------------------------------------------------------------
// memory: in-process (the store lives in the process, so there is no process to kill or pause)

async function runMemory() {
  const timings = PROFILES.memory.failover;
  backendInfo.push({
    backend: 'memory',
    server: 'MemoryStore in the harness process',
    versions: {},
  });
  for (const scenario of scenarios) {
    if (scenario !== 'graceful' && scenario !== 'crash' && scenario !== 'transfer') {
      skip(
        'memory',
        scenario,
        null,
        scenario === 'observe'
          ? 'in-process store: no other process can watch it (`leader-elect watch` refuses --backend memory); observeLeader on it is a function call in the same event loop'
          : 'in-process store: no server and no separate process to pause or measure',
      );
      continue;
    }
    if (only && !only.has('leader-elect')) continue;
    const trials = explicitTrials ?? PLAN[scenario].memoryTrials;
    const latencies = [];
    const excesses = [];
    let others = 0;
    const t0 = performance.now();
    // Crash trials spend most of their time waiting for expiry: run a few at once (separate elections).
    const parallel = scenario === 'crash' ? 5 : 1;
    const progress = progressLogger('memory', scenario, 'leader-elect');
    for (let i = 0; i < trials; i += parallel) {
      const batch = [];
      for (let j = i; j < Math.min(trials, i + parallel); j++) {
        batch.push(
          scenario === 'graceful'
            ? gracefulTrial(timings, j)
            : scenario === 'transfer'
              ? transferTrial(timings, j)
              : crashTrial(timings, j),
        );
      }
      for (const result of await Promise.all(batch)) {
        latencies.push(result.latencyMs);
        if (result.excessMs !== undefined) excesses.push(result.excessMs);
        if (result.others !== undefined) others += result.others;
      }
      progress(latencies.length, trials, latencies);
    }
    const base = {
      backend: 'memory',
      scenario,
      implementation: 'leader-elect',
      label: 'leader-elect (ours)',
      ours: true,
      leaseDurationMs: timings.leaseDuration,
      renewDeadlineMs: timings.renewDeadline,
      retryPeriodMs: timings.retryPeriod,
      settings: `leaseDuration ${timings.leaseDuration} / renewDeadline ${timings.renewDeadline} / retryPeriod ${timings.retryPeriod} ms`,
    };
    const row = latencyRow(base, {
      samples: latencies,
      ...(scenario === 'crash'
        ? {
            excess: excesses,
            expiryMethod: 'send time of the last renewal + leaseDuration (in-process)',
          }
        : {}),
    });
    row.wallSeconds = round((performance.now() - t0) / 1000, 1);
    if (scenario === 'transfer') row.otherTerms = others;
    record(row, {
      latencyMs: latencies.map((v) => round(v)),
      ...(scenario === 'crash' ? { excessMs: excesses.map((v) => round(v)) } : {}),
    });
  }
}

// ---------------------------------------------------------------------------
// Servers (etcd, Kubernetes): every implementation as child processes

const firstLines = (error) =>
  String(error?.message ?? error)
    .split('\n')
    .slice(0, 3)
    .join(' | ');

async function runServerBackend(name, start) {
  let ctx;
  try {
    ctx = await start({ quick, log });
  } catch (error) {
    ctx = { skipped: `could not start: ${error.message.split('\n')[0]}` };
  }
  if (ctx.skipped) {
    skip(name, null, null, ctx.skipped);
    return;
  }
  backendInfo.push({
    backend: name,
    server: ctx.server,
    versions: ctx.versions,
    notes: ctx.notes ?? [],
  });
  // PostgreSQL: the downstream system of the pause scenario is the database itself.
  const fence = ctx.fencedResource ? await ctx.fencedResource() : await startFencedResource();
  try {
    for (const scenario of scenarios) {
      if (scenario === 'observe') {
        await runObserve(ctx, name).catch((error) =>
          skip(name, scenario, null, `failed: ${firstLines(error)}`),
        );
        continue;
      }
      for (const impl of ctx.implementations) {
        if (only && !only.has(impl.id)) continue;
        // A measuring stick (the graceful floor) takes part only in the scenarios it measures.
        if (impl.scenarios !== undefined && !impl.scenarios.includes(scenario)) continue;
        if (impl.unavailable) {
          skip(name, scenario, impl.id, impl.unavailable);
          continue;
        }
        const why = ctx.unsupported?.(impl, scenario);
        if (why) {
          skip(name, scenario, impl.id, why);
          continue;
        }
        try {
          await runOne(ctx, name, scenario, impl, fence);
        } catch (error) {
          skip(name, scenario, impl.id, `failed: ${firstLines(error)}`);
        }
      }
    }
  } finally {
    await fence.close();
    log(`stopping ${name}`);
    await ctx.stop();
  }
}

/**
 * The observe scenario: our candidates change leader, every observer of the backend reports it.
 * One run per backend (not per implementation): the implementations measured are the observers.
 */
async function runObserve(ctx, backend) {
  const impl = ctx.implementations.find((i) => i.ours);
  if (!impl || impl.unavailable) {
    skip(backend, 'observe', null, impl?.unavailable ?? 'ours is not available');
    return;
  }
  if (typeof ctx.observers !== 'function') {
    skip(backend, 'observe', null, 'no observers for this backend');
    return;
  }
  const observers = [];
  for (const observer of await ctx.observers()) {
    const wanted =
      only === null || only.has(observer.id) || (observer.ours && only.has('leader-elect'));
    if (!wanted) continue;
    if (observer.unavailable) skip(backend, 'observe', observer.id, observer.unavailable);
    else observers.push(observer);
  }
  if (ctx.observerPeersNote) skip(backend, 'observe', 'peers', ctx.observerPeersNote);
  if (observers.length === 0) return;
  const profile = PROFILES[backend].failover;
  const settings = impl.settings(profile);
  const trials = {
    graceful: explicitTrials ?? PLAN.observe.gracefulTrials,
    crash: explicitTrials ?? PLAN.observe.crashTrials,
  };
  const t0 = performance.now();
  log(
    `${backend} observe: ${observers.map((o) => o.id).join(', ')} (${trials.graceful} graceful + ${trials.crash} crash changes; candidates ${settings.text})`,
  );
  const loggers = {
    graceful: progressLogger(backend, 'observe graceful', observers[0].id),
    crash: progressLogger(backend, 'observe crash', observers[0].id),
  };
  const results = await observeScenario(ctx, impl, {
    observers,
    trials,
    profile,
    election: `lb-${runId}-observe`,
    maxMisses,
    progress: (kind, done, total, values) => loggers[kind](done, total, values),
  });
  const wallSeconds = round((performance.now() - t0) / 1000, 1);
  for (const [change, result] of Object.entries(results)) {
    for (const observer of observers) {
      const r = result.byObserver[observer.id];
      const row = {
        backend,
        scenario: 'observe',
        implementation: observer.id,
        label: observer.label,
        ours: observer.ours === true,
        baseline: observer.baseline === true,
        change,
        mode: observer.mode,
        version: observer.version,
        settings: observer.settings,
        candidates: `2 × leader-elect (ours), ${settings.text}`,
        trials: r.samples.length,
        ...summarize(r.samples),
        minMs: r.samples.length > 0 ? round(Math.min(...r.samples)) : null,
        wallSeconds,
      };
      if (r.missed) row.missedChanges = r.missed;
      if (result.missedTakeovers) row.missedTakeovers = result.missedTakeovers;
      if (r.inProcess.length > 0) {
        const own = summarize(r.inProcess);
        Object.assign(row, { inProcessP50Ms: own.p50Ms, inProcessP99Ms: own.p99Ms });
      }
      if (r.fromStop.length > 0) {
        const fromStop = summarize(r.fromStop);
        const handoff = summarize(result.handoffs);
        Object.assign(row, {
          fromStopP50Ms: fromStop.p50Ms,
          fromStopP99Ms: fromStop.p99Ms,
          handoffP50Ms: handoff.p50Ms,
          handoffP99Ms: handoff.p99Ms,
        });
      }
      log(
        `${backend} observe ${change} ${observer.id}: p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms (${row.trials} changes${r.missed ? `, ${r.missed} missed` : ''})`,
      );
      record(row, {
        latencyMs: r.samples.map((v) => round(v)),
        ...(r.inProcess.length > 0 ? { inProcessMs: r.inProcess.map((v) => round(v)) } : {}),
        ...(r.fromStop.length > 0 ? { fromStopMs: r.fromStop.map((v) => round(v)) } : {}),
      });
    }
  }
}

async function runOne(ctx, backend, scenario, impl, fence) {
  // Steady-state traffic at client-go's defaults; a quick run measures renew load at the failover
  // timings instead, so that a few seconds hold several renewals of every implementation.
  const profileName =
    scenario === 'scale' || (scenario === 'renew-load' && !quick) ? 'production' : 'failover';
  const profile = PROFILES[backend][profileName];
  const settings = impl.settings(profile);
  const base = {
    backend,
    scenario,
    implementation: impl.id,
    label: impl.label,
    ours: impl.ours === true,
    ...(impl.floor === true ? { floor: true } : {}),
    leaseDurationMs: settings.leaseDurationMs,
    renewDeadlineMs: settings.renewDeadlineMs,
    retryPeriodMs: settings.retryPeriodMs,
    settings: settings.text,
    profile: profileName,
    version: impl.version,
  };
  const election = `lb-${runId}-${scenario}-${impl.id}`;
  const progress = progressLogger(backend, scenario, impl.id);
  const t0 = performance.now();
  const slow = impl.fixedTtlMs !== undefined && impl.fixedTtlMs > 4 * profile.leaseDuration;
  log(`${backend} ${scenario} ${impl.id} (${settings.text})`);

  if (scenario === 'graceful') {
    const trials =
      explicitTrials ??
      (backend === 'kubernetes' ? PLAN.graceful.kubernetesTrials : PLAN.graceful.trials);
    const result = await gracefulScenario(ctx, impl, {
      trials,
      profile,
      election,
      progress,
      maxMisses,
    });
    const row = latencyRow(base, result);
    row.wallSeconds = round((performance.now() - t0) / 1000, 1);
    record(row, { latencyMs: result.samples.map((v) => round(v)) });
  } else if (scenario === 'transfer') {
    if (!impl.ours) {
      skip(backend, scenario, impl.id, 'no way to hand over to a named successor');
      return;
    }
    const trials = explicitTrials ?? PLAN.transfer.trials;
    const result = await transferScenario(ctx, impl, {
      trials,
      profile,
      election,
      progress,
      maxMisses,
    });
    const row = latencyRow(base, result);
    row.otherTerms = result.others;
    row.wallSeconds = round((performance.now() - t0) / 1000, 1);
    record(row, { latencyMs: result.samples.map((v) => round(v)) });
  } else if (scenario === 'crash' || scenario === 'pause') {
    let trials = explicitTrials ?? PLAN[scenario].trials;
    if (slow) {
      trials = Math.min(trials, PLAN[scenario].slowPeerTrials);
      if (trials === 0) {
        skip(
          backend,
          scenario,
          impl.id,
          `its lease TTL is fixed at ${impl.fixedTtlMs / 1000} s (not configurable): a trial takes over a minute; a full run makes ${scenario === 'crash' ? 2 : 1}`,
        );
        return;
      }
    }
    if (scenario === 'crash') {
      const lanes = Math.min(PLAN.crash.lanes, trials);
      const result = await crashScenario(ctx, impl, {
        trials,
        profile,
        election,
        lanes,
        progress,
        maxMisses,
      });
      const row = latencyRow(base, result);
      row.lanes = lanes;
      row.wallSeconds = round((performance.now() - t0) / 1000, 1);
      record(row, {
        latencyMs: result.samples.map((v) => round(v)),
        excessMs: result.excess.map((v) => round(v)),
        afterDeleteMs: result.afterDelete.map((v) => round(v)),
      });
    } else {
      const result = await pauseScenario(ctx, impl, {
        trials,
        profile,
        election,
        fence,
        progress,
        maxMisses,
      });
      const row = latencyRow(base, result);
      const claims = summarize(result.staleClaims);
      Object.assign(row, {
        staleWrites: result.staleWrites,
        staleWritesAccepted: result.staleAccepted,
        writes: impl.writes ?? `none (${impl.noWritesReason})`,
        staleClaimP50Ms: claims.p50Ms,
        staleClaimMaxMs: claims.maxMs,
        neverSteppedDown: result.neverStepped,
        wallSeconds: round((performance.now() - t0) / 1000, 1),
      });
      record(row, {
        latencyMs: result.samples.map((v) => round(v)),
        excessMs: result.excess.map((v) => round(v)),
        afterDeleteMs: result.afterDelete.map((v) => round(v)),
        staleClaimMs: result.staleClaims.map((v) => round(v)),
      });
    }
  } else if (scenario === 'cold-start') {
    const trials = explicitTrials ?? PLAN['cold-start'].trials;
    const result = await coldStartScenario(ctx, impl, {
      trials,
      profile,
      election,
      candidates: PLAN['cold-start'].candidates,
      progress,
    });
    const row = latencyRow(base, result);
    const fromStarted = summarize(result.fromStarted);
    Object.assign(row, {
      candidates: PLAN['cold-start'].candidates,
      fromStartedP50Ms: fromStarted.p50Ms,
      fromStartedMaxMs: fromStarted.maxMs,
      note: ctx.coldStartNote,
      wallSeconds: round((performance.now() - t0) / 1000, 1),
    });
    record(row, {
      latencyMs: result.samples.map((v) => round(v)),
      fromStartedMs: result.fromStarted.map((v) => round(v)),
    });
  } else if (scenario === 'renew-load') {
    const windowMs = renewLoadWindow(impl, profile, PLAN['renew-load'].windowMs);
    if (quick && windowMs > PLAN['renew-load'].quickMaxWindowMs) {
      skip(
        backend,
        scenario,
        impl.id,
        `renews every ${impl.renewalIntervalMs(profile) / 1000} s (not configurable): a ${windowMs / 1000} s window is too long for --quick`,
      );
      return;
    }
    const result = await renewLoadScenario(ctx, impl, { profile, election, windowMs });
    const row = {
      ...base,
      candidates: 2,
      requestsPerSecond: round(result.requestsPerSecond),
      keepalivesPerSecond: round(result.keepalivesPerSecond),
      byMethod: result.byMethod,
      windowSeconds: round(result.windowSeconds, 1),
    };
    log(
      `${backend} renew-load ${impl.id}: ${row.requestsPerSecond} requests/s (${JSON.stringify(result.byMethod)})`,
    );
    record(row);
  } else if (scenario === 'scale') {
    if (!impl.scale) {
      skip(backend, scenario, impl.id, impl.scaleUnsupported ?? 'no multi-election mode');
      return;
    }
    for (const elections of PLAN.scale.sizes) {
      if (impl.scaleMax && elections > impl.scaleMax) {
        skip(
          backend,
          scenario,
          impl.id,
          `${elections} elections: above ${impl.scaleMax} (one lease and keepalive per campaign)`,
        );
        continue;
      }
      const result = await scaleScenario(ctx, impl, {
        profile,
        election: `${election}-${elections}`,
        elections,
        windowMs: PLAN.scale.windowMs,
        warmupMs: PLAN.scale.warmupMs,
        readyTimeoutMs: PLAN.scale.readyTimeoutMs,
        stopGraceMs: PLAN.scale.stopGraceMs,
      });
      const row = {
        ...base,
        elections,
        campaignMs: round(result.campaignMs, 1),
        electedAtWindow: result.electedAtWindow,
        cpuPercent: round(result.cpuPercent, 2),
        rssMb: round(result.rssMb, 1),
        peakRssMb: round(result.peakRssMb, 1),
        requestsPerSecond: round(result.requestsPerSecond),
        keepalivesPerSecond: round(result.keepalivesPerSecond),
        byMethod: result.byMethod,
        windowSeconds: round(result.windowSeconds, 1),
      };
      log(
        `${backend} scale ${impl.id} ×${elections}: ${result.electedAtWindow} elected; CPU ${row.cpuPercent} %, RSS ${row.rssMb} MB, ${row.keepalivesPerSecond} keepalives/s, ${row.requestsPerSecond} requests/s`,
      );
      record(row);
    }
  }
}

// ---------------------------------------------------------------------------

for (const backend of backends) {
  if (backend === 'memory') await runMemory();
  else if (backend === 'etcd') await runServerBackend('etcd', startEtcdBackend);
  else if (backend === 'kubernetes') await runServerBackend('kubernetes', startKubernetesBackend);
  else if (backend === 'postgres') await runServerBackend('postgres', startPostgresBackend);
}

const meta = {
  runId,
  date: new Date().toISOString(),
  command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
  quick,
  machine: { ...machine, loadAverageAtEnd: currentLoad() },
  backends: backendInfo,
  profiles: PROFILES,
  plan: PLAN,
  explicitTrials: explicitTrials ?? null,
  wallSeconds: round((performance.now() - started) / 1000, 1),
  skipped,
};

const root = fileURLToPath(new URL('../', import.meta.url));
// Only a complete run (every backend, scenario and implementation, default trials) replaces the
// published report and the docs; anything narrower goes to bench/results/tmp unless --out says.
const complete =
  !quick &&
  values.backend === BACKENDS.join(',') &&
  values.scenario === SCENARIOS.join(',') &&
  only === null &&
  explicitTrials === undefined &&
  values['scale-sizes'] === undefined;
const outDir = values.out ?? `${root}bench/results${complete ? '' : '/tmp'}`;
mkdirSync(outDir, { recursive: true });
const { markdown, files } = await writeReport({
  meta,
  rows,
  samples,
  outDir,
  docsFile:
    values['no-docs'] || !complete || values.out !== undefined ? null : `${root}docs/benchmarks.md`,
});
console.log(`\n${markdown}`);
for (const file of files) log(`wrote ${file}`);
if (values.json !== undefined) {
  writeFileSync(values.json, `${JSON.stringify(rows, null, 2)}\n`);
  log(`wrote ${values.json}`);
}
log(`done in ${meta.wallSeconds} s`);
// Clients of finished backends may keep sockets open for a while; everything is recorded.
process.exit(0);
