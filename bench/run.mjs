#!/usr/bin/env node
/**
 * Failover-latency benchmarks. Usage:
 *   npm run bench -- [--backend memory] [--scenario graceful,crash] [--trials N] [--quick] [--json FILE]
 * Every figure in the output comes from this invocation; settings and machine are recorded.
 */
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { crashTrial, gracefulTrial } from './lib/memory.mjs';
import { round, summarize } from './lib/stats.mjs';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'memory' },
    scenario: { type: 'string', default: 'graceful,crash' },
    trials: { type: 'string' },
    quick: { type: 'boolean', default: false },
    json: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  console.log(
    'npm run bench -- [--backend memory] [--scenario graceful,crash] [--trials N] [--quick] [--json FILE]',
  );
  process.exit(0);
}

const backends = values.backend.split(',');
const scenarios = values.scenario.split(',');
const known = { memory: ['graceful', 'crash'] };
for (const backend of backends) {
  if (!(backend in known)) {
    console.error(`bench: unknown backend "${backend}" (known: ${Object.keys(known).join(', ')})`);
    process.exit(2);
  }
}
for (const scenario of scenarios) {
  if (!['graceful', 'crash'].includes(scenario)) {
    console.error(`bench: unknown scenario "${scenario}" (known: graceful, crash)`);
    process.exit(2);
  }
}

const explicitTrials = values.trials === undefined ? undefined : Number(values.trials);
if (explicitTrials !== undefined && (!Number.isInteger(explicitTrials) || explicitTrials < 1)) {
  console.error(`bench: --trials must be a positive integer, got "${values.trials}"`);
  process.exit(2);
}

// The default retry period of 2 s (the setting); lease and deadline as short as the rules allow.
const MEMORY_TIMINGS = { leaseDuration: 4_000, renewDeadline: 3_000, retryPeriod: 2_000 };
const rows = [];

async function runScenario(backend, scenario) {
  const timings = MEMORY_TIMINGS;
  const trials =
    explicitTrials ??
    (scenario === 'graceful' ? (values.quick ? 50 : 500) : values.quick ? 10 : 40);
  const latencies = [];
  const excesses = [];
  const started = performance.now();
  // Crash trials spend most of their time waiting for expiry: run a few at once (separate elections).
  const parallel = scenario === 'crash' ? 5 : 1;
  let done = 0;
  for (let i = 0; i < trials; i += parallel) {
    const batch = [];
    for (let j = i; j < Math.min(trials, i + parallel); j++) {
      batch.push(scenario === 'graceful' ? gracefulTrial(timings, j) : crashTrial(timings, j));
    }
    for (const result of await Promise.all(batch)) {
      latencies.push(result.latencyMs);
      if (result.excessMs !== undefined) excesses.push(result.excessMs);
      done++;
    }
    if (scenario === 'crash' || done % 100 === 0 || done === trials) {
      process.stderr.write(`[bench] ${backend} ${scenario}: ${done}/${trials} trials\n`);
    }
  }
  const row = {
    backend,
    scenario,
    implementation: 'leader-elect',
    trials,
    leaseDurationMs: timings.leaseDuration,
    renewDeadlineMs: timings.renewDeadline,
    retryPeriodMs: timings.retryPeriod,
    ...summarize(latencies),
    ...(excesses.length > 0
      ? {
          excessP50Ms: summarize(excesses).p50Ms,
          excessP99Ms: summarize(excesses).p99Ms,
          excessMaxMs: summarize(excesses).maxMs,
        }
      : {}),
    wallSeconds: round((performance.now() - started) / 1000, 1),
  };
  rows.push(row);
}

for (const backend of backends) {
  for (const scenario of scenarios) {
    if (known[backend].includes(scenario)) await runScenario(backend, scenario);
  }
}

const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`;
console.log(`\nfailover latency (ms) — ${machine}\n`);
console.log(
  '| backend | scenario | implementation | trials | lease/renew/retry (ms) | p50 | p99 | max | excess p50 | excess p99 |',
);
console.log('|---|---|---|---:|---|---:|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(
    `| ${r.backend} | ${r.scenario} | ${r.implementation} | ${r.trials} | ${r.leaseDurationMs}/${r.renewDeadlineMs}/${r.retryPeriodMs} | ${r.p50Ms} | ${r.p99Ms} | ${r.maxMs} | ${r.excessP50Ms ?? ''} | ${r.excessP99Ms ?? ''} |`,
  );
}
if (values.json !== undefined) {
  writeFileSync(values.json, `${JSON.stringify(rows, null, 2)}\n`);
  console.log(`\nwrote ${values.json}`);
}
