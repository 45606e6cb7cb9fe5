/**
 * Property: under random schedules of N electors — request delays, lost responses, process
 * pauses (a clock jump), partitions and clock rates that differ within the configured margin —
 *   1. at no instant of global time do two electors both hold a valid term;
 *   2. tokens strictly increase with the global start time of terms;
 *   3. once faults stop, after the holder stops (crashes) someone leads within
 *      leaseDuration + retryPeriod (in the slowest clock's time, plus message delays).
 *
 * Wall clocks: without `maxClockSkew` they are arbitrary (up to an hour apart) and never matter;
 * with it, they differ pairwise by at most the bound and the property holds — and a run whose
 * wall clocks differ by more than the bound plus the margin must break it (the last test).
 */
import { noop } from 'cockatiel';
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { LeaderElector, MemoryStore, RecordLeaseBackend } from '../../src/index.js';
import { SimNode, SimWorld } from '../support/sim-world.js';

const TIMINGS = { leaseDuration: 15_000, renewDeadline: 10_000, retryPeriod: 2_000 };
// leaseDuration / renewDeadline = 1.5: clock rates may differ by up to that ratio. We draw rates
// in [0.9, 1.3] (ratio ≤ 1.444) — within the margin, as the guarantee assumes.
const RATE_MIN = 0.9;
const RATE_MAX = 1.3;
const CHAOS_MS = 120_000;
const MAX_DELAY_MS = 400;

const fault = fc.record({
  at: fc.integer({ min: 0, max: CHAOS_MS }),
  node: fc.nat(),
  kind: fc.constantFrom('pause', 'partition', 'stop-start'),
  durationMs: fc.integer({ min: 100, max: 25_000 }),
});

const scenario = fc.record({
  nodes: fc.integer({ min: 2, max: 5 }),
  rates: fc.array(fc.double({ min: RATE_MIN, max: RATE_MAX, noNaN: true }), {
    minLength: 5,
    maxLength: 5,
  }),
  offsets: fc.array(fc.integer({ min: -1e6, max: 1e6 }), { minLength: 5, maxLength: 5 }),
  lossRate: fc.double({ min: 0, max: 0.3, noNaN: true }),
  seed: fc.integer(),
  faults: fc.array(fault, { maxLength: 12 }),
  /** maxClockSkew (null: off) and each node's wall-clock offset as a fraction of it, or of an hour when off. */
  wallClocks: fc.record({
    maxClockSkew: fc.option(fc.integer({ min: 0, max: 5_000 })),
    offsets: fc.array(fc.double({ min: -0.5, max: 0.5, noNaN: true }), {
      minLength: 5,
      maxLength: 5,
    }),
  }),
});

type Scenario = (typeof scenario extends fc.Arbitrary<infer T> ? T : never) & {
  /** Extra wall-clock offset per node beyond the bound (the last test only). */
  readonly outOfBound?: readonly number[];
};

interface StartedTerm {
  readonly node: number;
  readonly token: bigint;
  readonly at: number;
}

/** A small deterministic PRNG (mulberry32) so that a run is a function of its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function simulate(s: Scenario): Promise<void> {
  const world = new SimWorld();
  const store = new MemoryStore();
  const random = prng(s.seed);
  let calm = false;
  const faults = {
    delay: () => (calm ? random() * 20 : random() * MAX_DELAY_MS),
    lose: () => !calm && random() < s.lossRate,
  };
  const { maxClockSkew } = s.wallClocks;
  // Pairwise offsets ≤ maxClockSkew when it is set (each within ± half of it).
  const wallSpread = maxClockSkew ?? 3_600_000;
  const nodes = Array.from(
    { length: s.nodes },
    (_, i) =>
      new SimNode(
        world,
        s.rates[i]!,
        s.offsets[i]!,
        faults,
        s.wallClocks.offsets[i]! * wallSpread + (s.outOfBound?.[i] ?? 0),
      ),
  );
  const started: StartedTerm[] = [];
  const electors: (LeaderElector | null)[] = [];

  const spawn = (i: number) => {
    const node = nodes[i]!;
    const elector = new LeaderElector({
      backend: new RecordLeaseBackend(node.link(store), 'sim'),
      identity: `node-${i}`,
      clock: node,
      random,
      policy: noop,
      ...TIMINGS,
      ...(maxClockSkew === null ? {} : { maxClockSkew }),
      stopGracePeriod: 0,
    });
    elector.on('startedLeading', (term) =>
      started.push({ node: i, token: term.token, at: world.now }),
    );
    electors[i] = elector;
    void elector.run();
  };
  for (let i = 0; i < s.nodes; i++) spawn(i);

  for (const f of s.faults) {
    const i = f.node % s.nodes;
    world.at(f.at, () => {
      const node = nodes[i]!;
      if (f.kind === 'pause') node.pause(f.durationMs);
      if (f.kind === 'partition') {
        node.partitioned = true;
        world.at(world.now + f.durationMs, () => {
          node.partitioned = false;
        });
      }
      if (f.kind === 'stop-start') {
        const elector = electors[i];
        electors[i] = null;
        void elector?.stop().then(() => world.at(world.now + f.durationMs, () => spawn(i)));
      }
    });
  }

  const checkSafety = () => {
    const leading = electors.filter((e) => e?.isLeader());
    if (leading.length > 1) {
      throw new Error(
        `two leaders at global t=${world.now}: ${leading.map((e) => e!.identity).join(', ')}`,
      );
    }
  };

  await world.runUntil(CHAOS_MS + 30_000, checkSafety);

  // Calm phase: faults end; a leader must exist; crash it (partition forever) and time the takeover.
  calm = true;
  for (const node of nodes) {
    node.partitioned = false;
  }
  const live = () => electors.map((e, i) => [e, i] as const).filter(([e]) => e !== null);
  for (const [e, i] of live()) if (e!.phase === 'stopped') spawn(i);
  const firstLeaderBy = world.now + (2 * TIMINGS.leaseDuration) / RATE_MIN;
  let leaderIndex = -1;
  await world.runUntil(firstLeaderBy, () => {
    checkSafety();
    if (leaderIndex === -1) leaderIndex = electors.findIndex((e) => e?.isLeader());
  });
  expect(leaderIndex, 'a leader once faults stop').toBeGreaterThanOrEqual(0);
  const crashedAt = world.now;
  nodes[leaderIndex]!.partitioned = true;
  let takeoverAt = -1;
  const bound = (TIMINGS.leaseDuration + TIMINGS.retryPeriod) / RATE_MIN + 100;
  await world.runUntil(crashedAt + bound + 1_000, () => {
    checkSafety();
    if (takeoverAt === -1 && electors.some((e, i) => i !== leaderIndex && e?.isLeader()))
      takeoverAt = world.now;
  });
  expect(takeoverAt, 'someone else leads after the crash').toBeGreaterThan(0);
  expect(takeoverAt - crashedAt).toBeLessThanOrEqual(bound);

  // Tokens strictly increase in the global order terms started.
  for (let k = 1; k < started.length; k++) {
    expect(started[k]!.token, `term ${k} (node ${started[k]!.node})`).toBeGreaterThan(
      started[k - 1]!.token,
    );
  }

  for (const node of nodes) node.partitioned = false;
  const stopping = electors.map((e) => e?.stop());
  await world.runUntil(world.now + 60_000, () => undefined);
  await Promise.all(stopping);
}

test('never two leaders; tokens increase; failover within leaseDuration + retryPeriod', async () => {
  await fc.assert(fc.asyncProperty(scenario, simulate), {
    numRuns: 100,
    seed: Number(process.env.PROPERTY_SEED ?? 20261126),
  });
}, 300_000);

test('maxClockSkew is an assumption: wall clocks further apart than the bound break the property', async () => {
  const SKEW = 1_000;
  // Node i's wall clock runs i × (leaseDuration + maxClockSkew + 5 s) ahead: a record renewed
  // just now by a node looks older than leaseDuration + maxClockSkew to every node after it.
  const beyond = TIMINGS.leaseDuration + SKEW + 5_000;
  const outOfBound = scenario.map((s) => ({
    ...s,
    nodes: Math.max(3, s.nodes),
    wallClocks: { maxClockSkew: SKEW, offsets: s.wallClocks.offsets },
    outOfBound: [0, beyond, 2 * beyond, 3 * beyond, 4 * beyond],
  }));
  const run = await fc.check(fc.asyncProperty(outOfBound, simulate), {
    numRuns: 20,
    seed: 20261126,
  });
  expect(run.failed, 'out-of-bound wall clocks must break the property').toBe(true);
  expect(String(run.errorInstance)).toMatch(/two leaders at global t=/);
}, 300_000);
