#!/usr/bin/env node
/**
 * Checks a kept chaos history again and rewrites the report:
 *
 *   node bench/chaos/check.mjs HISTORY_DIR [--out DIR] [--json FILE]
 *
 * HISTORY_DIR is the directory a run prints ("histories kept in …"). Exit code as the run's:
 * 0 when every target holds, 1 when the checker found a failure.
 */
import { parseArgs } from 'node:util';
import { writeReport } from './lib/report.mjs';
import { checkRun } from './lib/verdict.mjs';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { out: { type: 'string' }, json: { type: 'string' } },
});
if (positionals.length !== 1) {
  process.stderr.write('usage: node bench/chaos/check.mjs HISTORY_DIR [--out DIR] [--json FILE]\n');
  process.exit(2);
}
const { meta, result, faults, startAt } = await checkRun(positionals[0]);
const outDir = values.out ?? positionals[0];
const files = await writeReport({ result, meta, faults, startAt, outDir, jsonFile: values.json });
process.stderr.write(`report: ${files.join(', ')}\n`);
process.stderr.write(result.ok ? 'PASS\n' : `FAIL: ${result.failures.join('; ')}\n`);
process.exit(result.ok ? 0 : 1);
