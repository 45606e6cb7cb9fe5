/**
 * The backend conformance suite: what every LeaseBackend must do, checked against real
 * electors on the real clock. Memory, etcd and Kubernetes run it; a third-party backend can too
 * (docs/backends.md, examples/custom-backend/).
 *
 * Bounds are semantic, not tuned: "not before expiry" is measured from the send time of the last
 * renewal (the earliest instant any backend may count expiry from); "watch-driven" means faster
 * than the shortest poll a follower could make (retryPeriod).
 */
import { afterEach, describe, expect, test } from 'vitest';
import {
  ErrorCode,
  type LeaderElectError,
  LeaderElector,
  type LeaseBackend,
  type Term,
} from '../../index.js';
import { activeResources, leakedSince, sleep, waitFor } from './wait.js';

/** The electors' timings during the suite, in milliseconds (the elector's rules apply). */
export interface ConformanceTimings {
  readonly leaseDuration: number;
  readonly renewDeadline: number;
  readonly retryPeriod: number;
}

/** The backend under test and the hooks the suite needs to reach around it. */
export interface ConformanceTarget {
  /** Shown in the suite's name: `backend conformance: <name>`. */
  readonly name: string;
  /**
   * Short timings the backend supports (etcd: whole seconds, at least its minimum TTL). The
   * suite runs for a few `leaseDuration`s per test: 600 / 400 / 150 ms suit an in-process store.
   */
  readonly timings: ConformanceTimings;
  /** A fresh backend for `election` (one per elector; the suite closes it through the elector). */
  newBackend(election: string): LeaseBackend<unknown> | Promise<LeaseBackend<unknown>>;
  /**
   * Writes a corrupt or foreign record for `election`, which must never be treated as free.
   * Without it, the corrupt-record test is skipped.
   */
  corrupt?(election: string): Promise<void>;
  /**
   * Takes the lease from its holder as an operator would (clear or delete it), keeping tokens
   * monotonic. Without it, the re-candidacy test is skipped.
   */
  evict?(election: string): Promise<void>;
  /**
   * Extra time a backend may need beyond the lease expiry to notice it (e.g. etcd's 500 ms sweep).
   * @default 250
   */
  readonly expirySlackMs?: number;
}

type AnyElector = LeaderElector<unknown>;

/**
 * Declares the conformance suite for one backend as a vitest `describe` block: call it at the top
 * level of a test file. Each test runs real {@link LeaderElector}s on the real clock over
 * backends from `target.newBackend`, in elections with unique names, and stops them afterwards.
 *
 * It checks: one leader among N concurrent candidates at every sampled instant; exactly one
 * winner of a race on a free lease, and on a released one; a graceful handoff faster than any poll (watch-driven); a
 * crashed leader replaced after expiry and not before; strictly increasing tokens across terms;
 * re-candidacy after the lease is taken away (`evict`); corrupt records never treated as free
 * (`corrupt`); no timers, watches or sockets left behind after `stop()`.
 *
 * @example
 * // my-store.conformance.test.ts
 * import { RecordLeaseBackend } from 'leader-elect';
 * import { describeBackendConformance } from 'leader-elect/testing/conformance';
 *
 * const store = new MyStore();
 * describeBackendConformance({
 *   name: 'my-store',
 *   timings: { leaseDuration: 600, renewDeadline: 400, retryPeriod: 150 },
 *   newBackend: (election) => new RecordLeaseBackend(store, election),
 *   corrupt: async (election) => store.writeRaw(election, 'garbage'),
 *   evict: async (election) => store.clearHolder(election),
 * });
 */
export function describeBackendConformance(target: ConformanceTarget): void {
  const { timings, evict, corrupt } = target;
  const slack = target.expirySlackMs ?? 250;
  // How long to wait for something the test needs before it can check anything (a first
  // leader, an observation): generous, since a loaded CI machine is slow; the timing claims
  // themselves are checked against the timings, not against this.
  const patience = timings.leaseDuration * 10;
  let electors: AnyElector[] = [];
  let counter = 0;
  const election = (label: string) =>
    `conf-${label}-${process.pid}-${Date.now().toString(36)}-${counter++}`;

  async function candidate(
    name: string,
    identity: string,
    extra: Partial<ConstructorParameters<typeof LeaderElector<unknown>>[0]> = {},
  ): Promise<AnyElector> {
    const elector = new LeaderElector<unknown>({
      backend: await target.newBackend(name),
      identity,
      ...timings,
      ...extra,
    });
    electors.push(elector);
    return elector;
  }

  const leaders = () => electors.filter((e) => e.isLeader());

  afterEach(async () => {
    await Promise.all(electors.map((e) => e.stop()));
    electors = [];
  });

  describe(`backend conformance: ${target.name}`, () => {
    test('one leader among N concurrent candidates, at every instant', async () => {
      const name = election('one');
      const all = await Promise.all([0, 1, 2, 3, 4].map((i) => candidate(name, `cand-${i}`)));
      for (const e of all) void e.run();
      await waitFor(() => leaders().length === 1, 'a leader', patience);
      const until = performance.now() + timings.leaseDuration * 1.5;
      let samples = 0;
      while (performance.now() < until) {
        expect(leaders().length).toBeLessThanOrEqual(1);
        samples++;
        await sleep(2);
      }
      expect(samples).toBeGreaterThan(10);
      expect(leaders()).toHaveLength(1);
    });

    test('N candidates racing on a free lease produce exactly one winner', async () => {
      const name = election('race');
      const all = await Promise.all(
        Array.from({ length: 8 }, (_, i) => candidate(name, `racer-${i}`)),
      );
      const started: string[] = [];
      for (const e of all) e.on('startedLeading', (t) => started.push(t.identity));
      for (const e of all) void e.run();
      await waitFor(() => started.length > 0, 'a winner', patience);
      await sleep(timings.retryPeriod * 2);
      expect(started).toHaveLength(1);
      expect(leaders().map((e) => e.identity)).toEqual(started);
      // Every loser observes the same winner.
      await waitFor(
        () => all.every((e) => e.leader?.identity === started[0]),
        'every loser to observe the winner',
        patience,
      );
      expect(started).toHaveLength(1);
    });

    test('N followers racing for a released lease produce exactly one winner', async () => {
      // The race goes through an update of the released record: a store whose update ignores
      // the version it was given (last writer wins) lets several followers believe they lead.
      const name = election('released');
      const holder = await candidate(name, 'holder');
      void holder.run();
      await holder.waitForLeadership({ signal: AbortSignal.timeout(patience) });
      const followers = await Promise.all(
        Array.from({ length: 6 }, (_, i) => candidate(name, `follower-${i}`)),
      );
      const started: string[] = [];
      for (const e of followers) e.on('startedLeading', (t) => started.push(t.identity));
      for (const e of followers) void e.run();
      await waitFor(
        () => followers.every((e) => e.leader?.identity === 'holder'),
        'every follower to observe the holder',
        patience,
      );
      await holder.stop();
      await waitFor(() => started.length > 0, 'a winner', patience);
      await sleep(timings.retryPeriod * 2);
      expect(started).toHaveLength(1);
      expect(leaders().map((e) => e.identity)).toEqual(started);
    });

    test('graceful stop hands over, watch-driven (faster than any poll)', async () => {
      const name = election('handoff');
      const a = await candidate(name, 'a');
      void a.run();
      const first = await a.waitForLeadership({
        signal: AbortSignal.timeout(patience),
      });
      const b = await candidate(name, 'b');
      void b.run();
      await waitFor(() => b.leader?.identity === 'a', 'b to observe a', patience);
      await sleep(50); // let b's watch settle
      const stoppedAt = performance.now();
      const next = b.waitForLeadership({ signal: AbortSignal.timeout(patience) });
      await a.stop();
      const term = await next;
      const handoffMs = performance.now() - stoppedAt;
      expect(term.token).toBeGreaterThan(first.token);
      // No poll can fire sooner than retryPeriod: a faster handoff was driven by the watch.
      expect(handoffMs).toBeLessThan(timings.retryPeriod);
      expect(a.isLeader()).toBe(false);
    });

    test('a leader that stops renewing without releasing is replaced after expiry, not before', async () => {
      const name = election('crash');
      const a = await candidate(name, 'a', { releaseOnCancel: false });
      void a.run();
      const aTerm = await a.waitForLeadership({
        signal: AbortSignal.timeout(patience),
      });
      const b = await candidate(name, 'b');
      void b.run();
      await waitFor(() => b.leader?.identity === 'a', 'b to observe a', patience);
      await sleep(timings.retryPeriod * 1.5); // at least one renewal happens
      const lastRenewSentAt = aTerm.validUntil - timings.renewDeadline;
      const crashedAt = performance.now();
      await a.stop(); // stops renewing, does not release: a crash as the lease sees it
      const bTerm = await b.waitForLeadership({
        signal: AbortSignal.timeout(patience),
      });
      const takeoverAt = bTerm.startedAt;
      // Not before: no backend may count expiry from earlier than the last renewal's send time.
      expect(takeoverAt).toBeGreaterThanOrEqual(lastRenewSentAt + timings.leaseDuration);
      // And not much after: the lease expires at most leaseDuration after the crash.
      expect(performance.now() - crashedAt).toBeLessThan(
        timings.leaseDuration + timings.retryPeriod + slack,
      );
      expect(bTerm.token).toBeGreaterThan(aTerm.token);
    });

    test('tokens strictly increase across terms and candidates', async () => {
      const name = election('tokens');
      const tokens: bigint[] = [];
      let previous: AnyElector | null = null;
      for (let i = 0; i < 4; i++) {
        const e = await candidate(name, `t-${i}`);
        e.on('startedLeading', (t) => tokens.push(t.token));
        void e.run();
        if (previous !== null) await previous.stop();
        await e.waitForLeadership({ signal: AbortSignal.timeout(patience) });
        previous = e;
      }
      expect(tokens).toHaveLength(4);
      for (let i = 1; i < tokens.length; i++) expect(tokens[i]!).toBeGreaterThan(tokens[i - 1]!);
    });

    test.skipIf(evict === undefined)(
      're-candidacy: a leader that loses the lease campaigns again with a higher token',
      async () => {
        const name = election('recandidacy');
        const a = await candidate(name, 'a');
        const reasons: string[] = [];
        const terms: Term<unknown>[] = [];
        a.on('startedLeading', (t) => terms.push(t));
        a.on('stoppedLeading', (_t, reason) => reasons.push(reason));
        void a.run();
        await waitFor(() => terms.length === 1, 'first term', patience);
        await evict!(name);
        await waitFor(() => terms.length === 2, 'second term', patience);
        expect(reasons[0]).toBe('lost');
        expect(terms[0]!.signal.aborted).toBe(true);
        expect(terms[1]!.token).toBeGreaterThan(terms[0]!.token);
        expect(a.isLeader()).toBe(true);
      },
    );

    test.skipIf(corrupt === undefined)(
      'a corrupt or foreign record is never treated as free and is reported as a typed error',
      async () => {
        const name = election('corrupt');
        await corrupt!(name);
        const errors: LeaderElectError[] = [];
        const all = await Promise.all([candidate(name, 'c1'), candidate(name, 'c2')]);
        for (const e of all) {
          e.on('error', (err) => errors.push(err));
          void e.run();
        }
        await sleep(timings.leaseDuration + timings.retryPeriod * 2 + slack);
        expect(leaders()).toHaveLength(0);
        expect(errors.some((err) => err.code === ErrorCode.CorruptRecord)).toBe(true);
      },
    );

    test('a stopped elector leaves no timers, watches or sockets behind', async () => {
      const baseline = activeResources();
      const name = election('leak');
      const all = await Promise.all([
        candidate(name, 'l1'),
        candidate(name, 'l2'),
        candidate(name, 'l3'),
      ]);
      for (const e of all) void e.run();
      await waitFor(() => leaders().length === 1, 'a leader', patience);
      await sleep(timings.retryPeriod * 1.5);
      await Promise.all(all.map((e) => e.stop()));
      electors = [];
      // Sockets close asynchronously after their last byte; give them a bounded moment.
      const leaked = await waitFor(
        () => {
          const now = leakedSince(baseline);
          return Object.keys(now).length === 0 ? now : undefined;
        },
        'resources to be released',
        2000,
        20,
      ).catch(() => leakedSince(baseline));
      expect(leaked).toEqual({});
    });
  });
}
