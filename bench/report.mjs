#!/usr/bin/env node
/**
 * Regenerates the report (results.md, the SVG charts and the results section of
 * docs/benchmarks.md) from a results JSON written by bench/run.mjs, without measuring anything.
 *
 *   node bench/report.mjs [bench/results/results.json] [--no-docs]
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeReport } from './lib/report/write.mjs';

const args = process.argv.slice(2);
const root = fileURLToPath(new URL('../', import.meta.url));
const file = resolve(args.find((a) => !a.startsWith('--')) ?? `${root}bench/results/results.json`);
const { meta, rows, samples } = JSON.parse(readFileSync(file, 'utf8'));
const { files } = await writeReport({
  meta,
  rows,
  samples,
  outDir: dirname(file),
  docsFile: args.includes('--no-docs') ? null : `${root}docs/benchmarks.md`,
});
for (const f of files) console.log(`wrote ${f}`);
