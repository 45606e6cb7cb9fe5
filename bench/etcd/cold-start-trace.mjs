#!/usr/bin/env node
/**
 * Where the time of an etcd cold start goes (spawn → the first candidate leads), ours next to its
 * floor: a Node process that only imports `etcd3`, grants a lease and runs the recipe's
 * create-if-absent transaction — what any etcd3-based candidate must do, with no election code.
 * Like the benchmark's cold-start scenario, `--candidates` processes start at once on an empty
 * election (three by default); the winner's phases are reported, from its own epoch timestamps
 * (bench/etcd/lib/cold-start-candidate.mjs) and the spawn time taken here. Trials of ours and of
 * the floor are interleaved, so that load from elsewhere hits both alike.
 *
 *   npm run build && node bench/etcd/cold-start-trace.mjs [--trials 20] [--candidates 3] [--endpoints URL,URL]
 *
 * Without --endpoints it starts a private three-member etcd from the test environment.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { etcdForTool } from './lib/cluster.mjs';

const { values } = parseArgs({
  options: {
    trials: { type: 'string', default: '20' },
    candidates: { type: 'string', default: '3' },
    endpoints: { type: 'string' },
  },
});
const trials = Number(values.trials);
const candidates = Number(values.candidates);
if (!Number.isInteger(trials) || trials < 1 || !Number.isInteger(candidates) || candidates < 1) {
  console.error('usage: node bench/etcd/cold-start-trace.mjs [--trials N] [--candidates N]');
  process.exit(2);
}
const FIXTURE = fileURLToPath(new URL('./lib/cold-start-candidate.mjs', import.meta.url));
const epochMs = () => performance.timeOrigin + performance.now();
const pct = (xs, p) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
const fmt = (xs) =>
  `p50 ${pct(xs, 50).toFixed(1).padStart(6)}  p90 ${pct(xs, 90).toFixed(1).padStart(6)}  max ${Math.max(
    ...xs.filter(Number.isFinite),
  )
    .toFixed(1)
    .padStart(6)}`;

/** One process; resolves with its JSON line (or null when it died or took over 10 s). */
function runCandidate(config) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [FIXTURE, JSON.stringify(config)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('close', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(out.split('\n')[0]));
      } catch {
        resolve(null);
      }
    });
  });
}

async function trial(mode, endpoints, i) {
  const election = `bench-cold-trace/${mode}-${Date.now().toString(36)}-${i}`;
  const spawnedAt = epochMs();
  const lines = await Promise.all(
    Array.from({ length: candidates }, (_, n) =>
      runCandidate({ mode, endpoints, election, identity: `${mode}-${i}-${n}` }),
    ),
  );
  const winners = lines
    .filter((l) => l !== null && Number.isFinite(l.leading) && l.succeeded !== false)
    .sort((a, b) => a.leading - b.leading);
  const w = winners[0];
  if (w === undefined) return null;
  const io = w.calls.filter((c) => c.sent <= w.leading);
  const firstSent = io.length === 0 ? w.leading : Math.min(...io.map((c) => c.sent));
  const beforeIo = w.constructed ?? w.etcd3Imported;
  return {
    processStart: w.processStart - spawnedAt,
    bootstrap: w.scriptStart - w.processStart,
    importEtcd3: w.etcd3Imported - w.scriptStart,
    importBackend: (w.backendImported ?? Number.NaN) - w.etcd3Imported,
    importElector: (w.electorImported ?? Number.NaN) - (w.backendImported ?? Number.NaN),
    construct: (w.constructed ?? Number.NaN) - (w.electorImported ?? Number.NaN),
    toFirstCall: firstSent - beforeIo,
    io: w.leading - firstSent,
    total: w.leading - spawnedAt,
    sequence: io
      .map(
        (c) =>
          `${c.method.split('/').pop()} +${(c.sent - firstSent).toFixed(1)}→${c.answered === null || c.answered > w.leading ? '…' : (c.answered - firstSent).toFixed(1)}`,
      )
      .join(', '),
  };
}

const cluster = await etcdForTool(values.endpoints, 'bench-cold-trace');
try {
  const results = { ours: [], floor: [] };
  for (let i = 0; i < trials; i++) {
    for (const mode of ['ours', 'floor']) {
      const r = await trial(mode, cluster.endpoints, i);
      if (r !== null) results[mode].push(r);
    }
  }
  const col = (mode, k) => results[mode].map((r) => r[k]);
  console.log(
    `etcd cold start, ${candidates} candidates at once, ${trials} trials each (ms; the winner's phases)`,
  );
  const rows = [
    ['spawn → process start', 'processStart'],
    ['→ script runs (Node bootstrap)', 'bootstrap'],
    ['→ etcd3 imported', 'importEtcd3'],
    ['→ leader-elect/etcd imported', 'importBackend'],
    ['→ leader-elect imported', 'importElector'],
    ['→ elector constructed', 'construct'],
    ['→ first gRPC call sent', 'toFirstCall'],
    ['→ leading (I/O and reactions)', 'io'],
    ['total spawn → leading', 'total'],
  ];
  for (const mode of ['ours', 'floor']) {
    console.log(`\n${mode} (${results[mode].length} trials)`);
    for (const [label, key] of rows) {
      const xs = col(mode, key);
      if (xs.every((x) => !Number.isFinite(x))) continue;
      console.log(`  ${label.padEnd(34)} ${fmt(xs)}`);
    }
    const median = [...results[mode]].sort((a, b) => a.total - b.total)[
      Math.floor(results[mode].length / 2)
    ];
    if (median) console.log(`  calls of the median trial: ${median.sequence}`);
  }
} finally {
  await cluster.stop();
}
