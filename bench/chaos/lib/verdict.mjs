/**
 * Checks a finished run from the files in its history directory — `harness.jsonl`,
 * `resource.jsonl`, `fenced.json` (the fenced etcd keys read back) and `meta.json` — so that a
 * kept history can be checked again later (`node bench/chaos/check.mjs DIR`).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { check, faultApplications } from './checker.mjs';
import { CLUSTER_FAULTS, CONTROL_FAULT, duringFaultBoundMs } from './faults.mjs';
import { readJsonLines } from './history.mjs';

export async function saveRunFiles(dir, { meta, fenced }) {
  await writeFile(join(dir, 'meta.json'), `${JSON.stringify(meta, null, 1)}\n`);
  await writeFile(join(dir, 'fenced.json'), JSON.stringify(fenced));
}

export async function checkRun(dir) {
  const meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8'));
  const fenced = JSON.parse(await readFile(join(dir, 'fenced.json'), 'utf8'));
  const events = await readJsonLines(join(dir, 'harness.jsonl'));
  const writes = await readJsonLines(join(dir, 'resource.jsonl'));
  const result = check({
    writes,
    events,
    fenced,
    timings: meta.timings,
    options: {
      endAt: meta.endAt,
      duringFaultBoundMs: (fault) => duringFaultBoundMs(fault, meta.timings),
      clusterFaults: Object.keys(CLUSTER_FAULTS),
      controlRequested: meta.faults.includes(CONTROL_FAULT),
    },
  });
  return { meta, result, faults: faultApplications(events), startAt: meta.nemesisAt };
}
