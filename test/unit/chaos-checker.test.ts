// The chaos checker (bench/chaos/lib/checker.mjs) on small synthetic histories: it must find
// what it is there to find (overlapping terms, stale writes accepted, non-increasing tokens,
// stale fenced etcd writes, a missed control) and stay quiet on a clean handover.
import { describe, expect, it } from 'vitest';
import { check, type HistoryEvent, type ResourceWrite } from '../../bench/chaos/lib/checker.mjs';

const timings = { leaseDuration: 2000, renewDeadline: 1500, retryPeriod: 500 };

/** Writes of one candidate every 30 ms in [from, to), checked 1 ms before they arrive. */
function writes(
  candidate: string,
  token: number,
  from: number,
  to: number,
  accepted = true,
): ResourceWrite[] {
  const out: ResourceWrite[] = [];
  let seq = 0;
  for (let t = from; t < to; t += 30) {
    out.push({
      t,
      election: 'e',
      candidate,
      token: String(token),
      seq: ++seq,
      checkedAt: t - 1,
      accepted,
      max: null,
    });
  }
  return out;
}

const byTime = (list: ResourceWrite[]) => [...list].sort((a, b) => a.t - b.t);

function started(candidate: string, token: number, t: number): HistoryEvent {
  return {
    t,
    kind: 'candidate',
    election: 'e',
    candidate,
    event: 'started-leading',
    token: String(token),
  };
}

function stopped(candidate: string, token: number, t: number, reason: string): HistoryEvent {
  return {
    t,
    kind: 'candidate',
    election: 'e',
    candidate,
    event: 'stopped-leading',
    token: String(token),
    reason,
  };
}

const byEventTime = (list: HistoryEvent[]) => [...list].sort((a, b) => a.t - b.t);

function fault(
  id: string,
  name: string,
  appliedAt: number,
  healedAt: number,
  extra = {},
): HistoryEvent[] {
  return [
    { t: appliedAt, kind: 'fault', id, fault: name, phase: 'applied', elections: ['e'], ...extra },
    { t: healedAt, kind: 'fault', id, fault: name, phase: 'healed', elections: ['e'] },
  ];
}

describe('chaos checker', () => {
  it('passes a clean crash failover: no overlap, the gap is leaderless time of the fault', () => {
    const history = byTime([...writes('a', 5, 0, 1000), ...writes('b', 9, 3000, 4000)]);
    const result = check({
      writes: history,
      events: [started('a', 5, 0), started('b', 9, 2990), ...fault('f1', 'kill-leader', 995, 1500)],
      timings,
    });
    expect(result.failures).toEqual([]);
    expect(result.ok).toBe(true);
    expect(result.overlappingTerms).toBe(0);
    expect(result.transitions).toBe(2);
    expect(result.faults['kill-leader']?.leaderlessMaxMs).toBeGreaterThan(1900);
    expect(result.faults['kill-leader']?.applications).toBe(1);
  });

  it('finds an old leader still writing after the newer term started (rejected, so not stale)', () => {
    const old = writes('a', 5, 0, 2600, false).map((w) => ({ ...w, accepted: w.t < 2000 }));
    const history = byTime([...old, ...writes('b', 9, 2000, 4000)]);
    const result = check({
      writes: history,
      events: [...fault('f1', 'pause-supervisor', 500, 3500, { target: 'a' })],
      timings,
    });
    expect(result.overlappingTerms).toBe(1);
    expect(result.overlappingTermsWithinModel).toBe(1);
    expect(result.staleWritesAccepted).toBe(0);
    expect(result.samples.overlaps[0]).toMatchObject({
      oldToken: '5',
      newToken: '9',
      fault: 'pause-supervisor',
    });
    expect(result.ok).toBe(false);
    expect(result.failures.join()).toMatch(/overlapping term/);
  });

  it('does not count a write checked before the newer term began as an overlap (in flight)', () => {
    const late: ResourceWrite = {
      t: 2100,
      election: 'e',
      candidate: 'a',
      token: '5',
      seq: 99,
      checkedAt: 1990,
      accepted: false,
      max: '9',
    };
    const history = byTime([...writes('a', 5, 0, 1990), ...writes('b', 9, 2000, 3000), late]);
    const result = check({ writes: history, events: [], timings });
    expect(result.overlappingTerms).toBe(0);
    expect(result.inFlight).toEqual({ count: 1, accepted: 0 });
    expect(result.ok).toBe(true);
  });

  it('reports a stale write the resource accepted', () => {
    const bad: ResourceWrite = {
      t: 2500,
      election: 'e',
      candidate: 'a',
      token: '5',
      seq: 99,
      checkedAt: 2499,
      accepted: true,
      max: '9',
    };
    const result = check({
      writes: byTime([...writes('a', 5, 0, 1000), ...writes('b', 9, 2000, 3000), bad]),
      events: [],
      timings,
    });
    expect(result.staleWritesAccepted).toBe(1);
    expect(result.ok).toBe(false);
    expect(result.failures.join()).toMatch(/stale write/);
  });

  it('reports tokens that do not increase across terms, and one token claimed twice', () => {
    const history = byTime([...writes('a', 9, 0, 1000), ...writes('b', 7, 3000, 4000)]);
    const result = check({
      writes: history,
      events: [started('a', 9, 0), started('b', 7, 2990), started('c', 9, 5000)],
      timings,
    });
    expect(result.nonIncreasingTokens).toBe(2);
    expect(result.ok).toBe(false);
  });

  it('reports a stale fenced etcd put committed after a newer term put', () => {
    const result = check({
      writes: byTime([...writes('a', 5, 0, 1000), ...writes('b', 9, 3000, 4000)]),
      events: [],
      fenced: {
        e: [
          { revision: '10', token: '5', seq: 1, candidate: 'a' },
          { revision: '20', token: '9', seq: 1, candidate: 'b' },
          { revision: '21', token: '5', seq: 5, candidate: 'a' },
        ],
      },
      timings,
    });
    expect(result.staleFencedWritesAccepted).toBe(1);
    expect(result.ok).toBe(false);
  });

  it('counts the beyond-margin control as detected only when it overlapped, void when it could not', () => {
    const control = [
      ...fault('c1', 'skew-beyond-control', 0, 6000, { target: 'a' }),
      {
        t: 500,
        kind: 'fault',
        id: 'c1',
        fault: 'skew-beyond-control',
        phase: 'partitioned',
        elections: ['e'],
      },
    ];
    const overlapping = byTime([
      ...writes('a', 5, 0, 3000).map((w) => ({ ...w, accepted: w.t < 2000 })),
      ...writes('b', 9, 2000, 4000),
    ]);
    const detected = check({ writes: overlapping, events: control, timings });
    expect(detected.controlDetected).toBe(true);
    expect(detected.overlappingTermsWithinModel).toBe(0);
    expect(detected.ok).toBe(true);

    // By their events the two led at once (b started before a stood down), the writes show
    // nothing: the checker missed it.
    const clean = byTime([...writes('a', 5, 0, 1000), ...writes('b', 9, 3000, 4000)]);
    const bothLed = [...control, started('b', 9, 2000), stopped('a', 5, 2900, 'renew-deadline')];
    const missed = check({ writes: clean, events: bothLed, timings });
    expect(missed.controlDetected).toBe(false);
    expect(missed.controls.undetected).toHaveLength(1);
    expect(missed.ok).toBe(false);

    // The skewed leader stood down before anyone else led: no overlap to show.
    const stoodDown = [...control, stopped('a', 5, 1500, 'renew-deadline'), started('b', 9, 2900)];
    const voided = check({ writes: clean, events: stoodDown, timings });
    expect(voided.controls.void).toBe(1);
    expect(voided.controlDetected).toBe(null);
    expect(voided.ok).toBe(true);
  });

  it('fails when an election stays leaderless too long after a fault heals', () => {
    const history = byTime([...writes('a', 5, 0, 1000), ...writes('b', 9, 9000, 10_000)]);
    const result = check({
      writes: history,
      events: [...fault('f1', 'blackhole-both', 995, 3000)],
      timings,
    });
    expect(result.faults['blackhole-both']?.afterHealViolations).toBe(1);
    expect(result.ok).toBe(false);
  });
  it('holds the deaf-next-in-line handoff to its bound while it runs alone, not when another fault was at work', () => {
    const history = byTime([...writes('a', 5, 0, 1000), ...writes('b', 9, 6500, 7000)]);
    const deaf = fault('f1', 'deaf-next-in-line', 500, 6500, { leader: 'a', target: 'c' });
    const options = {
      duringFaultBoundMs: (f: string) => (f === 'deaf-next-in-line' ? 4000 : null),
    };
    const late = [...deaf, stopped('a', 5, 1000, 'stopped'), started('b', 9, 6400)];
    const alone = check({ writes: history, events: late, timings, options });
    expect(alone.faults['deaf-next-in-line']?.duringBoundViolations).toBe(1);
    expect(alone.faults['deaf-next-in-line']?.handoffMaxMs).toBe(5400);
    expect(alone.ok).toBe(false);

    // The election handed over in 1.5 s; its new leader's first write came late (a child
    // process starting): the bound is the election's, and holds.
    const quick = [...deaf, stopped('a', 5, 1000, 'stopped'), started('b', 9, 2500)];
    const slowChild = check({ writes: history, events: quick, timings, options });
    expect(slowChild.faults['deaf-next-in-line']?.duringBoundViolations).toBe(0);
    expect(slowChild.faults['deaf-next-in-line']?.duringChecked).toBe(1);
    expect(slowChild.ok).toBe(true);

    // The leader's term ended by its renew deadline: its key was not released, no bound.
    const unreleased = [...deaf, stopped('a', 5, 1000, 'renew-deadline'), started('b', 9, 6400)];
    const lost = check({ writes: history, events: unreleased, timings, options });
    expect(lost.faults['deaf-next-in-line']?.duringNotApplicable).toBe(1);
    expect(lost.faults['deaf-next-in-line']?.duringBoundViolations).toBe(0);

    const combined = check({
      writes: history,
      events: [...late, ...fault('f2', 'quorum-loss', 2000, 4000)],
      timings,
      options,
    });
    expect(combined.faults['deaf-next-in-line']?.duringBoundViolations).toBe(0);
    expect(combined.faults['deaf-next-in-line']?.duringConfounded).toBe(1);

    // A cluster fault healed before the application is still at work until it recovered.
    const recovering = [
      ...fault('f3', 'kill-raft-leader', -3000, 0),
      {
        t: 3000,
        kind: 'fault',
        id: 'f3',
        fault: 'kill-raft-leader',
        phase: 'recovered',
        elections: ['e'],
      },
    ];
    const afterCluster = check({
      writes: history,
      events: byEventTime([...late, ...recovering]),
      timings,
      options,
    });
    expect(afterCluster.faults['deaf-next-in-line']?.duringBoundViolations).toBe(0);
    expect(afterCluster.faults['deaf-next-in-line']?.duringConfounded).toBe(1);
  });

  it('gives an overlap to the fault aimed at the old leader when faults combine', () => {
    const old = writes('a', 5, 0, 2600).map((w) => ({ ...w, accepted: w.t < 2000 }));
    const result = check({
      writes: byTime([...old, ...writes('b', 9, 2000, 4000)]),
      events: [
        ...fault('f1', 'pause-supervisor', 500, 3500, { target: 'a' }),
        ...fault('f2', 'kill-raft-leader', 1000, 3000),
      ],
      timings,
    });
    expect(result.samples.overlaps[0]).toMatchObject({
      fault: 'pause-supervisor',
      confounded: true,
    });
  });
});
