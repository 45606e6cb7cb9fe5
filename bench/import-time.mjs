#!/usr/bin/env node
/**
 * How long loading the library takes, in fresh processes: etcd3 (with cockatiel and
 * eventemitter3, which a process using the etcd backend loads anyway) first, then `leader-elect`
 * and `leader-elect/etcd` from a build. Prints p50 / max over the runs, as JSON.
 *
 *   node bench/import-time.mjs [--dist DIR] [--runs 10]
 *
 * Bounded: `--runs` processes (at most 100), one after the other, each timed out after 30 s.
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { dist: { type: 'string', default: 'dist' }, runs: { type: 'string', default: '10' } },
});
const runs = Math.min(100, Math.max(1, Number(values.runs)));
const dist = pathToFileURL(`${resolve(values.dist)}/`).href;
const probe = `
const t0 = performance.now();
await import('etcd3'); await import('cockatiel'); await import('eventemitter3');
const t1 = performance.now();
await import(${JSON.stringify(`${dist}index.js`)});
await import(${JSON.stringify(`${dist}etcd/index.js`)});
const t2 = performance.now();
console.log(JSON.stringify({ dependencies: t1 - t0, ours: t2 - t1 }));
`;
const samples = [];
for (let i = 0; i < runs; i++) {
  const out = spawnSync(process.execPath, ['--input-type=module', '-e', probe], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (out.status !== 0) throw new Error(`probe failed: ${out.stderr}`);
  samples.push(JSON.parse(out.stdout));
}
const p50 = (xs) => [...xs].sort((a, b) => a - b)[Math.ceil(xs.length / 2) - 1];
const round = (x) => Math.round(x * 10) / 10;
const ours = samples.map((s) => s.ours);
const deps = samples.map((s) => s.dependencies);
console.log(
  JSON.stringify({
    dist: values.dist,
    runs,
    oursP50Ms: round(p50(ours)),
    oursMaxMs: round(Math.max(...ours)),
    dependenciesP50Ms: round(p50(deps)),
  }),
);
