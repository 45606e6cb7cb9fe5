/**
 * The rows the chaos report gives beside the safety checks: the fenced etcd key's history
 * (stale puts committed: a failure), the outcome of every fenced put the candidates reported
 * (failures by code, slow ones, failures whose put committed anyway), every library error by
 * code, `leader-elect run` children that outlived their supervisor, candidates that exited by
 * themselves, and the terms lost to one etcd member's death (issue 11 part 4).
 */

const round = (v) => (v === null || v === undefined ? null : Math.round(v * 10) / 10);

/**
 * @param {{fenced: Record<string, Array<object>>, events: Array<object>,
 *          timings: {renewDeadline: number}}} o
 */
export function fencedAndErrors({ fenced, events, timings }) {
  const staleFenced = [];
  const committedSeqs = new Set();
  let fencedPuts = 0;
  for (const [election, puts] of Object.entries(fenced)) {
    let max = null;
    let maxCandidate = null;
    for (const p of puts) {
      fencedPuts += 1;
      const token = BigInt(p.token);
      committedSeqs.add(`${election}\u0000${p.token}\u0000${p.seq}`);
      if (max !== null && token < max) {
        staleFenced.push({
          election,
          revision: p.revision,
          token: p.token,
          after: String(max),
          newer: maxCandidate,
          candidate: p.candidate,
        });
      }
      if (max === null || token > max) {
        max = token;
        maxCandidate = p.candidate;
      }
    }
  }

  const errorsByCode = {};
  const fence = { failed: 0, slow: 0, maxMs: 0, committedDespiteError: 0, byCode: {} };
  const orphans = [];
  const selfExits = {};
  for (const e of events) {
    if (e.kind === 'orphan-child') orphans.push(e);
    if (e.kind === 'process-exit' && e.unexpected) {
      const key = e.signal ? `signal ${e.signal}` : `exit code ${e.code}`;
      selfExits[key] = (selfExits[key] ?? 0) + 1;
    }
    if (e.kind !== 'candidate') continue;
    if (e.event === 'error') {
      const key = `${e.code ?? 'uncoded'}`;
      errorsByCode[key] = (errorsByCode[key] ?? 0) + 1;
    } else if (e.event === 'fence') {
      fence.maxMs = Math.max(fence.maxMs, e.ms ?? 0);
      if ((e.ms ?? 0) > timings.renewDeadline) fence.slow += 1;
      if (!e.ok) {
        fence.failed += 1;
        const key = `${e.code ?? 'uncoded'}${e.transient === false ? '' : ' (transient)'}`;
        fence.byCode[key] = (fence.byCode[key] ?? 0) + 1;
        if (committedSeqs.has(`${e.election}\u0000${e.token}\u0000${e.seq}`))
          fence.committedDespiteError += 1;
      }
    }
  }

  return { staleFenced, fencedPuts, fence, errorsByCode, orphans, selfExits };
}

/**
 * Terms that ended (not by a stop) while an etcd member that a leader talked to was down: the
 * issue asks that this never happen while another member answers. Counted apart where another
 * fault was at work in that election, which would explain the loss.
 */
export function termsLostToMemberDeaths({ faults, events, otherFaultAt }) {
  const termEnds = events.filter((e) => e.kind === 'candidate' && e.event === 'stopped-leading');
  const memberDeaths = { applications: 0, termsLost: 0, termsLostCombined: 0, details: [] };
  for (const f of faults) {
    if (f.fault !== 'kill-member-of-leader' || f.healedAt === null) continue;
    memberDeaths.applications += 1;
    for (const e of termEnds) {
      if (e.t < f.appliedAt || e.t > f.healedAt + 1000 || e.reason === 'stopped') continue;
      if (!f.elections.includes(e.election)) continue;
      if (otherFaultAt(e.election, f, f.appliedAt, f.healedAt)) {
        memberDeaths.termsLostCombined += 1;
        continue;
      }
      memberDeaths.termsLost += 1;
      if (memberDeaths.details.length < 20)
        memberDeaths.details.push({
          id: f.id,
          election: e.election,
          candidate: e.candidate,
          reason: e.reason,
          afterKillMs: round(e.t - f.appliedAt),
        });
    }
  }

  return memberDeaths;
}
