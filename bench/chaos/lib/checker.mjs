/**
 * The checker: a pure function of the run's histories. It reads
 *
 * - `writes`: the fenced resource's history, in arrival order
 *   ({t, election, candidate, token, seq, checkedAt, accepted, max});
 * - `events`: the harness's history (lib/history.mjs);
 * - `fenced`: per election, the fenced etcd key's puts in revision order
 *   ({revision, token, seq, candidate});
 *
 * and reports, by the rules of docs/chaos.md:
 *
 * - overlapping terms: a write of token A arriving after the first write of a newer token B of
 *   the same election, which A's writer checked its term for (or sent) after B's first write had
 *   arrived: the old leader still acting. A write checked before B's first write and delivered
 *   after it (a SIGSTOP or a starved event loop between check and send: docs/guarantees.md,
 *   assumption 3, which no timing rule can prevent) is counted as `inFlight` instead, and fencing
 *   must have rejected it. Writers under libfaketime are judged by arrival (their clock is not
 *   ours), which can only count more overlaps;
 * - stale writes accepted: an accepted write whose token is below the highest accepted before it;
 * - stale fenced etcd writes accepted: a put of an older term committed after a newer term's put;
 * - non-increasing tokens: a term whose first write carries a token not above every earlier
 *   term's, and one token reported as its own by two candidates;
 * - leaderless time: gaps longer than `gapMs` between accepted writes of an election, summed per
 *   fault application (per election, for cluster faults);
 * - leaderless after heal: how long an election that had no acting leader when a fault healed
 *   stayed so; beyond `recoveryBoundMs` it fails, unless another fault was at work there;
 * - candidates that never recovered, orphaned `leader-elect run` children, errors by code.
 *
 * Overlaps and leaderless time go to the fault active in that election at that time (the one
 * applied last if several are; the beyond-margin control takes precedence while it runs), or
 * else to the fault that healed last ("none" before the first).
 */

import { CONTROL_FAULT, faultTimeline } from './fault-timeline.mjs';
import { controlOverlapped, handoffAfterRelease } from './handoffs.mjs';
import { fencedAndErrors, termsLostToMemberDeaths } from './reported-rows.mjs';

export { CONTROL_FAULT, faultApplications } from './fault-timeline.mjs';

/** Nearest-rank percentile; null when empty. */
export function percentile(values, p) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

const round = (v) => (v === null || v === undefined ? null : Math.round(v * 10) / 10);

function push(map, key, value) {
  let list = map.get(key);
  if (!list) {
    list = [];
    map.set(key, list);
  }
  list.push(value);
}

/** Per candidate identity: its kind and its libfaketime rate (null: the real clock). */
function candidateInfo(events) {
  const info = new Map();
  for (const e of events) {
    if (e.kind === 'process-start' && e.candidate) {
      info.set(e.candidate, { skew: e.skew ?? null, kind: e.candidateKind ?? null });
    }
  }
  return info;
}

/**
 * @param {object} input
 * @param {Array<object>} input.writes
 * @param {Array<object>} input.events
 * @param {Record<string, Array<object>>} [input.fenced]
 * @param {{leaseDuration: number, renewDeadline: number, retryPeriod: number}} input.timings
 * @param {object} [input.options]
 * @param {number} [input.options.gapMs]            a gap longer than this between accepted writes is leaderless (250)
 * @param {number} [input.options.recoveryBoundMs]  leaderless after a heal beyond this fails (L + 3P + 1 s)
 * @param {string[]} [input.options.clusterFaults]  faults that get one second more (a raft election, lease promotion)
 * @param {number} [input.options.endAt]            end of the run on the timeline
 * @param {(fault: string) => number | null} [input.options.duringFaultBoundMs]
 * @param {boolean} [input.options.controlRequested]
 */
export function check({ writes, events, fenced = {}, timings, options = {} }) {
  const gapMs = options.gapMs ?? 250;
  const recoveryBoundMs =
    options.recoveryBoundMs ?? timings.leaseDuration + 3 * timings.retryPeriod + 1000;
  // A cluster fault adds a raft election, and etcd restarts every lease's TTL when a new raft
  // leader takes over (the lessor's promotion): a dead leader's key can live a full TTL after the
  // cluster is back. One more second covers that.
  const clusterFaults = new Set(options.clusterFaults ?? []);
  const boundFor = (fault) => recoveryBoundMs + (clusterFaults.has(fault) ? 1000 : 0);
  const duringBound = options.duringFaultBoundMs ?? (() => null);
  let endAt = options.endAt ?? 0;
  if (options.endAt === undefined) {
    for (const w of writes) endAt = Math.max(endAt, w.t);
    for (const e of events) endAt = Math.max(endAt, e.t);
  }

  const timeline = faultTimeline(events, { endAt, controlWindowMs: recoveryBoundMs });
  const { faults, attribute, attributeGap, otherFaultAt, nameOf } = timeline;
  const info = candidateInfo(events);
  /**
   * When the writer acted: the CLOCK_MONOTONIC reading it took when it checked its term (a
   * library elector) or sent (a `leader-elect run` child), which the resource's clock shares —
   * unless the writer ran under libfaketime, whose clock is not ours: then its arrival.
   */
  const actedAt = (w) => {
    const c = info.get(w.candidate);
    const usable = (c === undefined || c.skew === null) && typeof w.checkedAt === 'number';
    return usable ? w.checkedAt : w.t;
  };

  // --- per election: walk the writes in arrival order ---------------------------------------
  const writesByElection = new Map();
  for (const w of writes) push(writesByElection, w.election, w);

  const overlaps = [];
  const staleAccepted = [];
  const nonIncreasing = [];
  const inFlight = { count: 0, accepted: 0 };
  /** election → sorted accepted-write times (for leaderless time) */
  const acceptedTimes = new Map();
  /** election → [{token, candidate, firstAt}] in order of first arrival */
  const termsByElection = new Map();

  for (const [election, list] of writesByElection) {
    const firstAt = new Map();
    const terms = [];
    const termOf = new Map();
    let newest = null; // {token: bigint, candidate, firstAt}
    let maxAccepted = null;
    const open = new Map(); // old token → overlap record being built
    const times = [];
    for (const w of list) {
      const token = BigInt(w.token);
      if (w.accepted) {
        const term = termOf.get(w.token);
        if (term) term.lastAt = w.t;
        if (maxAccepted !== null && token < maxAccepted) staleAccepted.push(w);
        if (maxAccepted === null || token > maxAccepted) maxAccepted = token;
        times.push(w.t);
      }
      if (!firstAt.has(w.token)) {
        const late = newest !== null && actedAt(w) < newest.firstAt;
        if (newest !== null && token <= newest.token && !late) {
          nonIncreasing.push({
            election,
            token: w.token,
            candidate: w.candidate,
            t: w.t,
            after: String(newest.token),
          });
        }
        firstAt.set(w.token, w.t);
        if (newest === null || token > newest.token) {
          newest = { token, candidate: w.candidate, firstAt: w.t };
          const term = { token: w.token, candidate: w.candidate, firstAt: w.t, lastAt: w.t };
          terms.push(term);
          termOf.set(w.token, term);
        }
      }
      if (newest !== null && token < newest.token) {
        // Checked (or sent) before the newer term's first write arrived, delivered after it: the
        // old leader acted in time and its write was slow to arrive (a SIGSTOP or a starved
        // event loop between check and send, docs/guarantees.md assumption 3). Fencing's case.
        if (actedAt(w) < newest.firstAt) {
          inFlight.count += 1;
          if (w.accepted) inFlight.accepted += 1;
          continue;
        }
        const key = w.token;
        let o = open.get(key);
        if (!o) {
          const a = attribute(election, newest.firstAt, w.candidate);
          o = {
            election,
            oldToken: w.token,
            oldCandidate: w.candidate,
            oldSkew: info.get(w.candidate)?.skew ?? null,
            newToken: String(newest.token),
            newCandidate: newest.candidate,
            newSkew: info.get(newest.candidate)?.skew ?? null,
            newFirstAt: newest.firstAt,
            firstLateAt: w.t,
            firstLateActedAt: actedAt(w),
            lastLateAt: w.t,
            writes: 0,
            accepted: 0,
            fault: nameOf(a.fault),
            faultId: a.fault?.id ?? null,
            confounded: a.confounded,
          };
          open.set(key, o);
          overlaps.push(o);
        }
        o.writes += 1;
        if (w.accepted) o.accepted += 1;
        o.lastLateAt = w.t;
      }
    }
    for (const o of overlaps)
      if (o.election === election) o.overlapMs = round(o.lastLateAt - o.newFirstAt);
    acceptedTimes.set(election, times);
    termsByElection.set(election, terms);
  }

  // --- tokens reported by the candidates --------------------------------------------------
  const tokenOwner = new Map();
  const transitionsByFault = {};
  let transitions = 0;
  for (const e of events) {
    if (e.kind !== 'candidate' || e.event !== 'started-leading') continue;
    transitions += 1;
    const a = attribute(e.election, e.t);
    transitionsByFault[nameOf(a.fault)] = (transitionsByFault[nameOf(a.fault)] ?? 0) + 1;
    const key = `${e.election}\u0000${e.token}`;
    const owner = tokenOwner.get(key);
    if (owner !== undefined && owner !== e.candidate) {
      nonIncreasing.push({
        election: e.election,
        token: String(e.token),
        candidate: e.candidate,
        sameAs: owner,
        t: e.t,
      });
    } else tokenOwner.set(key, e.candidate);
  }

  // --- leaderless time ----------------------------------------------------------------------
  /** election → [{from, to, ms}] gaps between accepted writes longer than gapMs */
  const gaps = new Map();
  for (const [election, times] of acceptedTimes) {
    const list = [];
    for (let i = 1; i < times.length; i++) {
      if (times[i] - times[i - 1] > gapMs)
        list.push({ from: times[i - 1], to: times[i], ms: times[i] - times[i - 1] });
    }
    gaps.set(election, list);
  }
  const allElections = new Set([...writesByElection.keys(), ...faults.flatMap((f) => f.elections)]);
  for (const election of allElections) if (!gaps.has(election)) gaps.set(election, []);

  const lastAcceptedBefore = (times, t) => {
    let lo = 0;
    let hi = times.length - 1;
    let best = null;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (times[mid] <= t) {
        best = times[mid];
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return best;
  };
  const firstAcceptedAfter = (times, t) => {
    let lo = 0;
    let hi = times.length - 1;
    let best = null;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (times[mid] >= t) {
        best = times[mid];
        hi = mid - 1;
      } else lo = mid + 1;
    }
    return best;
  };

  /** per fault type: {applications, leaderless: [ms per (application, election)], ...} */
  const perFault = {};
  const row = (name) => {
    perFault[name] ??= {
      applications: 0,
      aborted: 0,
      transitions: 0,
      overlaps: 0,
      overlapsConfounded: 0,
      staleAccepted: 0,
      leaderless: [],
      afterHeal: [],
      afterHealViolations: [],
      afterHealConfounded: 0,
      duringBoundViolations: [],
      duringChecked: 0,
      duringConfounded: 0,
      duringNotApplicable: [],
      handoffs: [],
      notRecovered: 0,
    };
    return perFault[name];
  };
  // Each gap goes to the fault its start belongs to.
  const gapOwner = new Map(); // faultId\0election → ms
  for (const [election, list] of gaps) {
    for (const g of list) {
      const a = attributeGap(election, g);
      const key = `${a.fault?.id ?? 'none'}\u0000${election}`;
      gapOwner.set(key, (gapOwner.get(key) ?? 0) + g.ms);
      if (!a.fault) row('none').leaderless.push(g.ms);
    }
  }
  for (const f of faults) {
    const r = row(f.fault);
    r.applications += 1;
    if (f.aborted) r.aborted += 1;
    if (f.notRecoveredAt !== undefined) r.notRecovered += 1;
    for (const election of f.elections) {
      const times = acceptedTimes.get(election) ?? [];
      r.leaderless.push(gapOwner.get(`${f.id}\u0000${election}`) ?? 0);
      if (f.healedAt === null) continue;
      // Leaderless after the heal: only when nobody acted in the last gapMs before it.
      const before = lastAcceptedBefore(times, f.healedAt);
      const after = firstAcceptedAfter(times, f.healedAt);
      let ms = 0;
      if (before === null || f.healedAt - before > gapMs) {
        ms = (after ?? endAt) - f.healedAt;
      }
      // Checked only where no other fault was at work: after the heal, over the time it took
      // (at most the bound); during the fault, over the fault.
      const afterConfounded = otherFaultAt(
        election,
        f,
        f.healedAt,
        f.healedAt + Math.min(ms, boundFor(f.fault)),
      );
      if (!afterConfounded) {
        r.afterHeal.push(ms);
        const tooLate =
          after === null ? endAt - f.healedAt > boundFor(f.fault) : ms > boundFor(f.fault);
        if (tooLate)
          r.afterHealViolations.push({
            id: f.id,
            fault: f.fault,
            election,
            ms: round(ms),
            healedAt: f.healedAt,
          });
      } else r.afterHealConfounded += 1;
      // The during-fault bound is the election's: from the leader's release to the next leader
      // (handoffs.mjs), checked only where no other fault was at work from the application to
      // that handoff (or the heal).
      const bound = duringBound(f.fault);
      if (bound === null) continue;
      const handoff = handoffAfterRelease(f, events, endAt);
      if (handoff.ms === undefined) {
        r.duringNotApplicable.push({ id: f.id, election, why: handoff.why });
      } else if (
        otherFaultAt(
          election,
          f,
          f.appliedAt,
          Math.max(f.healedAt ?? endAt, handoff.releasedAt + handoff.ms),
        )
      ) {
        r.duringConfounded += 1;
      } else {
        r.duringChecked += 1;
        r.handoffs.push(handoff.ms);
        if (handoff.ms > bound)
          r.duringBoundViolations.push({
            id: f.id,
            election,
            ms: round(handoff.ms),
            boundMs: bound,
            next: handoff.next,
          });
      }
    }
  }
  for (const [name, n] of Object.entries(transitionsByFault)) row(name).transitions = n;
  for (const o of overlaps) {
    const r = row(o.fault);
    if (o.confounded) r.overlapsConfounded += 1;
    r.overlaps += 1;
  }
  for (const w of staleAccepted) row(nameOf(attribute(w.election, w.t).fault)).staleAccepted += 1;

  const { staleFenced, fencedPuts, fence, errorsByCode, orphans, selfExits } = fencedAndErrors({
    fenced,
    events,
    timings,
  });
  const memberDeaths = termsLostToMemberDeaths({ faults, events, otherFaultAt });

  // --- control ------------------------------------------------------------------------------
  // A control whose skewed leader stood down before anyone else led (handoffs.mjs) had no
  // overlap to show: void. Every other one must be found in the writes.
  const controls = faults.filter((f) => f.fault === CONTROL_FAULT && f.partitionedAt !== undefined);
  const testable = controls.filter((f) => controlOverlapped(f, events));
  const detected = controls.filter((f) => overlaps.some((o) => o.faultId === f.id));
  const missed = testable.filter((f) => !detected.includes(f));
  let controlDetected = null;
  if (testable.length > 0 || detected.length > 0) controlDetected = missed.length === 0;
  else if (options.controlRequested && controls.length === 0) controlDetected = false;

  // --- summary and verdict ------------------------------------------------------------------
  const faultRows = {};
  for (const [name, r] of Object.entries(perFault)) {
    faultRows[name] = {
      applications: r.applications,
      aborted: r.aborted,
      transitions: r.transitions,
      overlaps: r.overlaps,
      overlapsConfounded: r.overlapsConfounded,
      staleAccepted: r.staleAccepted,
      leaderlessP50Ms: round(percentile(r.leaderless, 50)),
      leaderlessP99Ms: round(percentile(r.leaderless, 99)),
      leaderlessMaxMs: round(r.leaderless.length ? Math.max(...r.leaderless) : null),
      afterHealMaxMs: round(r.afterHeal.length ? Math.max(...r.afterHeal) : null),
      afterHealChecked: r.afterHeal.length,
      afterHealConfounded: r.afterHealConfounded,
      afterHealViolations: r.afterHealViolations.length,
      duringChecked: r.duringChecked,
      duringConfounded: r.duringConfounded,
      duringNotApplicable: r.duringNotApplicable.length,
      handoffP50Ms: round(percentile(r.handoffs, 50)),
      handoffMaxMs: round(r.handoffs.length ? Math.max(...r.handoffs) : null),
      duringBoundViolations: r.duringBoundViolations.length,
      notRecovered: r.notRecovered,
    };
  }
  const allLeaderless = Object.values(perFault).flatMap((r) => r.leaderless);
  const modelOverlaps = overlaps.filter((o) => o.fault !== CONTROL_FAULT);
  const failures = [];
  if (staleAccepted.length)
    failures.push(`${staleAccepted.length} stale write(s) accepted by the resource`);
  if (inFlight.accepted) failures.push(`${inFlight.accepted} late write(s) in flight accepted`);
  if (staleFenced.length)
    failures.push(`${staleFenced.length} stale fenced etcd write(s) committed`);
  if (modelOverlaps.length) {
    const by = {};
    for (const o of modelOverlaps) by[o.fault] = (by[o.fault] ?? 0) + 1;
    failures.push(
      `${modelOverlaps.length} overlapping term(s) within the model: ${JSON.stringify(by)}`,
    );
  }
  if (nonIncreasing.length)
    failures.push(`${nonIncreasing.length} non-increasing or shared token(s)`);
  const notRecovered = faults.filter((f) => f.notRecoveredAt !== undefined);
  if (notRecovered.length)
    failures.push(`${notRecovered.length} fault(s) after which candidates did not recover`);
  if (orphans.length)
    failures.push(`${orphans.length} leader-elect run child(ren) outlived a SIGKILLed supervisor`);
  const afterHeal = Object.values(perFault).flatMap((r) => r.afterHealViolations);
  if (afterHeal.length)
    failures.push(
      `${afterHeal.length} leaderless period(s) beyond the bound after a heal (${recoveryBoundMs} ms, cluster faults ${recoveryBoundMs + 1000} ms)`,
    );
  const during = Object.values(perFault).flatMap((r) => r.duringBoundViolations);
  if (during.length)
    failures.push(
      `${during.length} leaderless period(s) beyond the bound during a fault that has one`,
    );
  if (controlDetected === false) failures.push('the beyond-margin control was not detected');

  const faultsApplied = {};
  for (const [name, r] of Object.entries(perFault))
    if (name !== 'none' && !name.startsWith('(') && r.applications)
      faultsApplied[name] = r.applications;

  return {
    ok: failures.length === 0,
    failures,
    transitions,
    faultsApplied,
    overlappingTerms: overlaps.length,
    overlappingTermsWithinModel: modelOverlaps.length,
    staleWritesAccepted: staleAccepted.length,
    staleFencedWritesAccepted: staleFenced.length,
    nonIncreasingTokens: nonIncreasing.length,
    inFlight,
    controlDetected,
    controls: {
      run: controls.length,
      detected: detected.length,
      void: controls.filter((f) => !testable.includes(f) && !detected.includes(f)).length,
      undetected: missed.map((f) => ({
        id: f.id,
        elections: f.elections,
        target: f.params?.target,
      })),
    },
    leaderlessP99Ms: round(percentile(allLeaderless, 99)),
    recoveryBoundMs,
    clusterRecoveryBoundMs: recoveryBoundMs + 1000,
    deafBoundMs: duringBound('deaf-next-in-line'),
    gapMs,
    writes: writes.length,
    fencedPuts,
    faults: faultRows,
    errorsByCode,
    fence,
    memberDeaths,
    notRecovered: notRecovered.map((f) => ({ id: f.id, fault: f.fault, stuck: f.stuck })),
    orphans: orphans.length,
    selfExits,
    samples: {
      overlaps: overlaps.slice(0, 50),
      staleAccepted: staleAccepted.slice(0, 20),
      staleFenced: staleFenced.slice(0, 20),
      nonIncreasing: nonIncreasing.slice(0, 20),
      afterHealViolations: afterHeal.slice(0, 20),
      duringBoundViolations: during.slice(0, 20),
    },
    terms: Object.fromEntries(termsByElection),
    gaps: Object.fromEntries(gaps),
  };
}
