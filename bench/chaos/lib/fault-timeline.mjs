/**
 * The faults of a run as the checker sees them: their applications (applied → healed, read from
 * the harness history) and the rules that attribute an instant, or a leaderless gap, of an
 * election to one of them.
 *
 * - An instant belongs to the fault active in that election then: one aimed at `target` (the old
 *   leader of an overlap) first, else the one applied last; the beyond-margin control takes
 *   precedence while it runs and for `controlWindowMs` after its heal. With none active, it
 *   belongs to the fault that healed last ("none" before the first).
 * - A gap belongs to the fault active when it began, else to the first one applied during it
 *   (a leader is killed just after its last write), else as an instant.
 */

export const CONTROL_FAULT = 'skew-beyond-control';

/** Fault applications from the harness history: {id, fault, elections, appliedAt, healedAt, ...}. */
export function faultApplications(events) {
  const byId = new Map();
  for (const e of events) {
    if (e.kind !== 'fault') continue;
    let f = byId.get(e.id);
    if (!f) {
      f = {
        id: e.id,
        fault: e.fault,
        elections: e.elections ?? [],
        appliedAt: null,
        healedAt: null,
      };
      byId.set(e.id, f);
    }
    if (e.phase === 'applied') {
      f.appliedAt = e.t;
      f.params = e;
    } else if (e.phase === 'healed') f.healedAt = e.t;
    else if (e.phase === 'partitioned') f.partitionedAt = e.t;
    else if (e.phase === 'recovered') f.recoveredAt = e.t;
    else if (e.phase === 'not-recovered') {
      f.notRecoveredAt = e.t;
      f.stuck = e.stuck;
    } else if (e.phase === 'aborted') f.aborted = e.why;
  }
  return [...byId.values()].filter((f) => f.appliedAt !== null);
}

/**
 * @param {Array<object>} events  the harness history
 * @param {{endAt: number, controlWindowMs: number}} o
 */
export function faultTimeline(events, { endAt, controlWindowMs }) {
  const faults = faultApplications(events);
  const byElection = new Map();
  for (const f of faults) {
    for (const name of f.elections) {
      if (!byElection.has(name)) byElection.set(name, []);
      byElection.get(name).push(f);
    }
  }
  const healedOrEnd = (f) => f.healedAt ?? endAt;
  const of = (election) => byElection.get(election) ?? [];

  /** {fault, confounded}: the fault an instant belongs to, and whether another was at work too. */
  const attribute = (election, t, target = null) => {
    const list = of(election);
    const active = list.filter((f) => f.appliedAt <= t && t <= healedOrEnd(f));
    const aimed = target === null ? undefined : active.find((f) => f.params?.target === target);
    const control = list.find(
      (f) => f.fault === CONTROL_FAULT && f.appliedAt <= t && t <= healedOrEnd(f) + controlWindowMs,
    );
    if (control) return { fault: control, confounded: active.some((f) => f !== control) };
    if (aimed) return { fault: aimed, confounded: active.length > 1 };
    if (active.length > 0) {
      const latest = active.reduce((a, b) => (b.appliedAt > a.appliedAt ? b : a));
      return { fault: latest, confounded: active.length > 1 };
    }
    let last = null;
    for (const f of list) {
      if (f.healedAt !== null && f.healedAt <= t && (!last || f.healedAt > last.healedAt)) last = f;
    }
    return { fault: last, confounded: false };
  };

  /** The same for a gap {from, to}. */
  const attributeGap = (election, g) => {
    const list = of(election);
    if (list.some((f) => f.appliedAt <= g.from && g.from <= healedOrEnd(f))) {
      return attribute(election, g.from);
    }
    const during = list
      .filter((f) => g.from < f.appliedAt && f.appliedAt < g.to)
      .sort((a, b) => a.appliedAt - b.appliedAt)[0];
    return during ? { fault: during, confounded: false } : attribute(election, g.from);
  };

  /**
   * Whether a fault other than `f` was at work in the election at some time in [from, to]. A
   * fault is at work from its application until the harness saw its elections recover (not just
   * until its heal): a cluster fault healed a second ago still has a raft election and every
   * lease's TTL restart ahead of it.
   */
  const otherFaultAt = (election, f, from, to) =>
    of(election).some(
      (o) =>
        o !== f &&
        o.appliedAt <= to &&
        (o.recoveredAt ?? o.notRecoveredAt ?? healedOrEnd(o)) >= from,
    );

  const nameOf = (f) => f?.fault ?? 'none';
  return { faults, attribute, attributeGap, otherFaultAt, nameOf };
}
