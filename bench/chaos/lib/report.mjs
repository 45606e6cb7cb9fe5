/**
 * The chaos run's report: `results.md` (the table of faults, errors by code, the part-4 rows,
 * the control, seed, duration, machine), `timeline.svg`, `results.json` (everything), and the
 * `--json FILE` summary the issue asks for.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderTimeline } from './timeline-chart.mjs';

const fmt = (v) => (v === null || v === undefined ? '–' : String(v));
const ms = (v) => (v === null || v === undefined ? '–' : `${Math.round(v)}`);

/** The summary of `--json FILE`. */
export function summary(result, meta) {
  return {
    ok: result.ok,
    failures: result.failures,
    seed: meta.seed,
    minutes: meta.minutes,
    durationS: meta.durationS,
    transitions: result.transitions,
    faultsApplied: result.faultsApplied,
    overlappingTerms: result.overlappingTerms,
    overlappingTermsWithinModel: result.overlappingTermsWithinModel,
    staleWritesAccepted: result.staleWritesAccepted,
    staleFencedWritesAccepted: result.staleFencedWritesAccepted,
    nonIncreasingTokens: result.nonIncreasingTokens,
    controlDetected: result.controlDetected,
    leaderlessP99Ms: result.leaderlessP99Ms,
    errorsByCode: result.errorsByCode,
  };
}

export function renderMarkdown(result, meta) {
  const lines = [];
  lines.push(
    `Verdict: **${result.ok ? 'pass' : 'FAIL'}**${result.ok ? '' : ` — ${result.failures.join('; ')}`}`,
  );
  lines.push('');
  lines.push(
    `Seed \`${meta.seed}\`, ${meta.minutes} min of faults (${meta.durationS} s in all), backends ${meta.backends.join(', ')}; ${meta.layout}. Timings: lease ${meta.timings.leaseDuration} ms / renew deadline ${meta.timings.renewDeadline} ms / retry ${meta.timings.retryPeriod} ms. ${result.transitions} leadership transitions, ${result.writes} writes to the fenced resource, ${result.fencedPuts} fenced etcd puts.`,
  );
  lines.push('');
  lines.push(
    '| fault | applied | transitions | overlapping terms | stale accepted | leaderless p50 / p99 / max (ms) | leaderless after heal, max (ms) | not recovered |',
  );
  lines.push('|---|---:|---:|---:|---:|---|---:|---:|');
  const names = Object.keys(result.faults).sort(
    (a, b) => (a === 'none') - (b === 'none') || a.localeCompare(b),
  );
  for (const name of names) {
    const r = result.faults[name];
    const overlaps = `${r.overlaps}${r.overlapsConfounded ? ` (${r.overlapsConfounded} combined)` : ''}`;
    lines.push(
      `| ${name} | ${r.applications}${r.aborted ? ` (${r.aborted} aborted)` : ''} | ${r.transitions} | ${overlaps} | ${r.staleAccepted} | ${ms(r.leaderlessP50Ms)} / ${ms(r.leaderlessP99Ms)} / ${ms(r.leaderlessMaxMs)} | ${ms(r.afterHealMaxMs)} (${r.afterHealChecked} checked${r.afterHealViolations ? `, ${r.afterHealViolations} beyond the bound` : ''}) | ${r.notRecovered} |`,
    );
  }
  lines.push('');
  lines.push(
    `Leaderless: the sum of gaps longer than ${result.gapMs} ms between accepted writes of an election, per application (per election for cluster faults). After heal: how long an election that had no acting leader when the fault healed stayed so (bound ${result.recoveryBoundMs} ms, ${result.clusterRecoveryBoundMs} ms after a cluster fault; not checked where another fault was at work). "none": before the first fault.`,
  );
  lines.push('');
  lines.push('| check | result |');
  lines.push('|---|---|');
  lines.push(`| overlapping terms within the model | ${result.overlappingTermsWithinModel} |`);
  lines.push(`| stale writes accepted by the resource | ${result.staleWritesAccepted} |`);
  lines.push(`| stale fenced etcd writes committed | ${result.staleFencedWritesAccepted} |`);
  lines.push(`| non-increasing or shared tokens | ${result.nonIncreasingTokens} |`);
  lines.push(
    `| late writes in flight: checked before the newer term's first write, arrived after it (accepted) | ${result.inFlight.count} (${result.inFlight.accepted}) |`,
  );
  lines.push(
    `| beyond-margin control | ${result.controls.run} run, ${result.controls.detected} detected, ${result.controls.void} void (the skewed leader stood down before anyone else led) → controlDetected: ${fmt(result.controlDetected)} |`,
  );
  lines.push(`| leader-elect run children outliving a SIGKILLed supervisor | ${result.orphans} |`);
  lines.push(`| leaderless p99, all faults | ${ms(result.leaderlessP99Ms)} ms |`);
  const exits =
    Object.entries(result.selfExits)
      .map(([k, n]) => `${k} × ${n}`)
      .join(', ') || 'none';
  lines.push(`| candidate processes that exited by themselves (restarted after 1 s) | ${exits} |`);
  lines.push('');
  lines.push('Issue 11 part 4 rows:');
  lines.push('');
  lines.push('| gap | measured |');
  lines.push('|---|---|');
  const deaf = result.faults['deaf-next-in-line'];
  lines.push(
    `| deaf next-in-line follower + graceful stop of the leader (bound R + TTL + P = ${ms(result.deafBoundMs)} ms from the release to the next leader) | ${deaf ? `${deaf.applications} applied; handoff p50 / max ${ms(deaf.handoffP50Ms)} / ${ms(deaf.handoffMaxMs)} ms over ${deaf.duringChecked} checked alone (${deaf.duringConfounded} with another fault at work, ${deaf.duringNotApplicable} where the leader's term ended before its release): ${deaf.duringBoundViolations} beyond the bound; leaderless by the writes p50 / max ${ms(deaf.leaderlessP50Ms)} / ${ms(deaf.leaderlessMaxMs)} ms` : 'not run'} |`,
  );
  lines.push(
    `| one member's death ends a leader's term (three endpoints given) | ${result.memberDeaths.applications} member kills, ${result.memberDeaths.termsLost} terms ended (not by a stop) within the kill where no other fault was at work, ${result.memberDeaths.termsLostCombined} more where one was |`,
  );
  const fenceCodes =
    Object.entries(result.fence.byCode)
      .map(([c, n]) => `${c} × ${n}`)
      .join(', ') || 'none';
  lines.push(
    `| fenced etcd writes: failed / slower than the renew deadline / slowest | ${result.fence.failed} / ${result.fence.slow} / ${ms(result.fence.maxMs)} ms; failures by code: ${fenceCodes}; reported failed but committed: ${result.fence.committedDespiteError} |`,
  );
  lines.push('');
  lines.push('Library errors by code (every `error` event of every candidate):');
  lines.push('');
  const codes = Object.entries(result.errorsByCode).sort((a, b) => b[1] - a[1]);
  if (codes.length === 0) lines.push('none');
  else {
    lines.push('| code | count |');
    lines.push('|---|---:|');
    for (const [code, n] of codes) lines.push(`| ${code} | ${n} |`);
  }
  if (result.samples.overlaps.length > 0) {
    lines.push('');
    lines.push('Overlapping terms (first 10):');
    lines.push('');
    lines.push(
      '| election | old token (candidate, skew) | new token (candidate, skew) | late writes (accepted) | overlap ms | fault |',
    );
    lines.push('|---|---|---|---:|---:|---|');
    for (const o of result.samples.overlaps.slice(0, 10)) {
      lines.push(
        `| ${o.election} | ${o.oldToken} (${o.oldCandidate}, ${fmt(o.oldSkew)}) | ${o.newToken} (${o.newCandidate}, ${fmt(o.newSkew)}) | ${o.writes} (${o.accepted}) | ${ms(o.overlapMs)} | ${o.fault}${o.confounded ? ' + another' : ''} |`,
      );
    }
  }
  lines.push('');
  lines.push(
    `Machine: ${meta.machine.cpu}, ${meta.machine.memoryGiB} GiB, ${meta.machine.os}, Node ${meta.machine.node}, commit ${fmt(meta.machine.commit)}; load average at start ${meta.machine.loadAverageAtStart.join(' ')}, at the end ${meta.loadAtEnd.join(' ')}.`,
  );
  lines.push('');
  lines.push('![timeline](timeline.svg)');
  return lines.join('\n');
}

export async function writeReport({ result, meta, faults, startAt, outDir, jsonFile }) {
  mkdirSync(outDir, { recursive: true });
  const files = [];
  const all = join(outDir, 'results.json');
  const { terms: _terms, gaps: _gaps, ...compact } = result;
  writeFileSync(all, `${JSON.stringify({ meta, result: compact }, null, 1)}\n`);
  files.push(all);
  const md = join(outDir, 'results.md');
  writeFileSync(md, `# Chaos run\n\n${renderMarkdown(result, meta)}\n`);
  files.push(md);
  try {
    const svg = await renderTimeline({ result, faults, startAt });
    const file = join(outDir, 'timeline.svg');
    writeFileSync(file, svg);
    files.push(file);
  } catch (error) {
    process.stderr.write(`timeline failed: ${error?.stack ?? error}\n`);
  }
  if (jsonFile) {
    writeFileSync(jsonFile, `${JSON.stringify(summary(result, meta), null, 1)}\n`);
    files.push(jsonFile);
  }
  return files;
}
