/**
 * What the candidates' own events say about a fault application, where the bound is about the
 * election rather than about the writes: the handoff after a graceful release, and whether the
 * beyond-margin control produced two leaders at all.
 *
 * Times are the harness's arrival times of the candidates' lines (`e.t`), one clock for every
 * candidate, skewed ones included. The writes say when a leader *acted*; for a `leader-elect run`
 * election that adds starting the child, a Node process, and its first write (hundreds of ms at
 * the run's load), which no election bound is about.
 */

const isCandidate = (e, election, event) =>
  e.kind === 'candidate' && e.election === election && e.event === event;

/**
 * The handoff of a `deaf-next-in-line` application: from the leader's release (its
 * `stopped-leading` with reason `stopped`, after the fault was applied) to the first
 * `started-leading` of any candidate of the election after it, or to the end of the run if none
 * came.
 *
 * Returns `{ ms, releasedAt, next }`, or `{ why }` when the bound does not apply: the leader's
 * term ended some other way (a renewal missed its deadline under load, say), so its key was not
 * deleted and lives out its TTL first.
 *
 * @param {{id: string, elections: string[], appliedAt: number, healedAt: number|null, params?: object}} f
 * @param {Array<object>} events  the harness history, in arrival order
 * @param {number} endAt
 */
export function handoffAfterRelease(f, events, endAt) {
  const election = f.elections[0];
  const leader = f.params?.leader;
  if (leader === undefined) return { why: 'no leader named' };
  const until = f.healedAt ?? endAt;
  const release = events.find(
    (e) =>
      isCandidate(e, election, 'stopped-leading') &&
      e.candidate === leader &&
      e.t >= f.appliedAt &&
      e.t <= until,
  );
  if (release === undefined) return { why: 'the leader did not stop leading during the fault' };
  if (release.reason !== 'stopped') {
    return { why: `the leader's term ended by ${release.reason}, not by its release` };
  }
  const next = events.find((e) => isCandidate(e, election, 'started-leading') && e.t > release.t);
  const at = next?.t ?? endAt;
  return { ms: at - release.t, releasedAt: release.t, next: next?.candidate ?? null };
}

/**
 * Whether the control's skewed leader and another candidate led at once, by their events: the
 * first `started-leading` of another candidate after the partition arrived before the skewed
 * leader's `stopped-leading` (or its exit). If not, the control could not produce an overlap —
 * at the run's load its renewals had already failed and it stood down first — and there was
 * nothing for the writes to show: the control is void, neither detected nor missed.
 *
 * @param {{elections: string[], partitionedAt: number, params?: object}} f
 * @param {Array<object>} events
 * @returns {boolean}
 */
export function controlOverlapped(f, events) {
  const election = f.elections[0];
  const target = f.params?.target;
  const after = events.filter((e) => e.t >= f.partitionedAt);
  const end = after.find(
    (e) =>
      (isCandidate(e, election, 'stopped-leading') && e.candidate === target) ||
      (e.kind === 'process-exit' && e.candidate === target),
  );
  const other = after.find(
    (e) => isCandidate(e, election, 'started-leading') && e.candidate !== target,
  );
  if (other === undefined) return false;
  return end === undefined || other.t < end.t;
}
