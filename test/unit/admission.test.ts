/**
 * `LeaseBackend.admit`: an acquisition waits for the backend's admission before it starts, its
 * deadline counts from the admission, its slot is freed once it settles, and renewals never wait
 * for one (src/elector/backend-calls.ts). Deterministic: the fake clock and admissions we grant
 * by hand.
 */
import { noop } from 'cockatiel';
import { afterEach, describe, expect, test } from 'vitest';
import {
  ErrorCode,
  hasErrorCode,
  type LeaderElectError,
  LeaderElector,
  type LeaseBackend,
  MemoryStore,
} from '../../src/index.js';
import { FakeClock } from '../../src/testing/index.js';

const T = { leaseDuration: 15_000, renewDeadline: 10_000, retryPeriod: 2_000 };

/** A memory backend whose acquisitions wait for admissions granted by the test. */
function admitted(
  store: MemoryStore,
  options: { readonly hang?: boolean; readonly ignoreAbort?: boolean } = {},
) {
  const inner = store.lease('e');
  const waiting: { grant: () => void; signal: AbortSignal }[] = [];
  const counts = { asked: 0, released: 0, attempts: { acquire: 0, renew: 0 } };
  const backend: LeaseBackend = {
    description: 'memory lease "e", admitted by the test',
    admit: ({ signal }) => {
      counts.asked++;
      return new Promise((resolve, reject) => {
        const release = () => {
          counts.released++;
        };
        waiting.push({ grant: () => resolve(release), signal });
        if (options.ignoreAbort !== true) {
          signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        }
      });
    },
    attempt: (request) => {
      counts.attempts[request.mode]++;
      if (options.hang === true && request.mode === 'acquire') {
        return new Promise((_, reject) => {
          request.signal.addEventListener('abort', () => reject(request.signal.reason), {
            once: true,
          });
        });
      }
      return inner.attempt(request);
    },
    renewLocally: (request) => inner.renewLocally?.(request) ?? null,
    release: (request) => inner.release(request),
    close: () => inner.close(),
  };
  const grantNext = () => {
    const next = waiting.shift();
    if (next === undefined) throw new Error('no acquisition waits for admission');
    next.grant();
  };
  return { backend, counts, waiting, grantNext };
}

let electors: LeaderElector[] = [];
afterEach(async () => {
  await Promise.all(electors.map((e) => e.stop()));
  electors = [];
});

function make(backend: LeaseBackend, clock: FakeClock, errors: LeaderElectError[]) {
  const elector = new LeaderElector({
    backend,
    identity: 'a',
    clock,
    random: () => 0,
    policy: noop,
    ...T,
  });
  elector.on('error', (error) => errors.push(error));
  electors.push(elector);
  return elector;
}

describe('admission of acquisitions', () => {
  test('an acquisition starts only once admitted, and its deadline counts from the admission', async () => {
    const clock = new FakeClock();
    const { backend, counts, grantNext } = admitted(new MemoryStore(), { hang: true });
    const errors: LeaderElectError[] = [];
    const elector = make(backend, clock, errors);
    void elector.run();
    await clock.advance(0);
    expect(counts.asked).toBe(1);
    expect(counts.attempts.acquire).toBe(0);

    // Three deadlines pass while it waits: waiting for a slot is not the backend being slow.
    await clock.advance(3 * T.renewDeadline);
    expect(counts.attempts.acquire).toBe(0);
    expect(errors).toEqual([]);

    grantNext();
    await clock.advance(0);
    expect(counts.attempts.acquire).toBe(1);
    await clock.advance(T.renewDeadline - 1);
    expect(errors).toEqual([]);
    expect(counts.released).toBe(0);
    await clock.advance(1);
    expect(errors).toHaveLength(1);
    expect(hasErrorCode(errors[0], ErrorCode.BackendTimeout)).toBe(true);
    // The slot is freed once, when the attempt settled.
    expect(counts.released).toBe(1);
  });

  test('renewals never wait for admission; each acquisition frees its slot', async () => {
    const clock = new FakeClock();
    const { backend, counts, grantNext } = admitted(new MemoryStore());
    const errors: LeaderElectError[] = [];
    const elector = make(backend, clock, errors);
    void elector.run();
    await clock.advance(0);
    grantNext();
    await clock.advance(0);
    expect(elector.isLeader()).toBe(true);
    expect(counts.released).toBe(1);

    await clock.advance(5 * T.retryPeriod);
    expect(elector.isLeader()).toBe(true);
    expect(counts.attempts.renew).toBeGreaterThanOrEqual(5);
    expect(counts.asked).toBe(1);
    expect(errors).toEqual([]);
  });

  test('stop while it waits: the wait is aborted, no attempt starts and no slot is taken', async () => {
    const clock = new FakeClock();
    const { backend, counts, waiting } = admitted(new MemoryStore());
    const errors: LeaderElectError[] = [];
    const elector = make(backend, clock, errors);
    void elector.run();
    await clock.advance(0);
    expect(waiting).toHaveLength(1);
    await elector.stop();
    expect(waiting[0]?.signal.aborted).toBe(true);
    await clock.advance(T.renewDeadline);
    expect(counts.attempts.acquire).toBe(0);
    expect(counts.released).toBe(0);
    expect(errors).toEqual([]);
  });

  test('an admission granted after stop is handed back at once, and nothing runs', async () => {
    const clock = new FakeClock();
    const { backend, counts, grantNext } = admitted(new MemoryStore(), {
      ignoreAbort: true,
    });
    const errors: LeaderElectError[] = [];
    const elector = make(backend, clock, errors);
    void elector.run();
    await clock.advance(0);
    const stopped = elector.stop();
    grantNext();
    await stopped;
    await clock.advance(0);
    expect(counts.attempts.acquire).toBe(0);
    expect(counts.released).toBe(1);
    expect(errors).toEqual([]);
  });
});
