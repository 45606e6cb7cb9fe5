// Through the package's entry point, as the rest of the CLI: dist/ ships the library as
// bundled entry points (scripts/build.mjs), so that one process holds one copy of each class.
import { LeaderElector, MemoryStore, type Term } from '../index.js';
import { FencedResource } from './fenced-resource.js';

export interface DemoOptions {
  /** Where lines go. @default console.log */
  readonly print?: (line: string) => void;
  /** Colour the output. @default process.stdout.isTTY */
  readonly color?: boolean;
}

export interface DemoResult {
  readonly failoverMs: number;
  readonly failoverExcessMs: number;
  readonly handoffMs: number;
  readonly tokens: bigint[];
}

const TIMINGS = { leaseDuration: 3_000, renewDeadline: 2_000, retryPeriod: 500 };

/**
 * Three candidates on the in-process memory backend: one leads and writes to a fenced resource;
 * it crashes (stops renewing without releasing) and another takes over after the lease expires;
 * that one stops gracefully and the last takes over at once. Ends by itself in about 12 s.
 */
export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const print = options.print ?? ((line: string) => console.log(line));
  const color = options.color ?? process.stdout.isTTY === true;
  const paint = (code: number, text: string) => (color ? `\u001b[${code}m${text}\u001b[0m` : text);
  const started = performance.now();
  const stamp = () => `+${((performance.now() - started) / 1000).toFixed(3)}s`.padStart(9);
  const say = (who: string, text: string) => print(`${stamp()}  ${who.padEnd(6)} ${text}`);

  const store = new MemoryStore();
  const resource = new FencedResource();
  const tokens: bigint[] = [];
  const startedAt = new Map<string, number>();

  print(
    paint(1, 'leader-elect demo: three candidates, one election, the in-process memory backend'),
  );
  print(
    `timings: leaseDuration ${TIMINGS.leaseDuration} ms, renewDeadline ${TIMINGS.renewDeadline} ms, ` +
      `retryPeriod ${TIMINGS.retryPeriod} ms (safety margin ${TIMINGS.leaseDuration - TIMINGS.renewDeadline} ms)`,
  );
  print('');

  const work = async (name: string, term: Term) => {
    let n = 0;
    while (!term.signal.aborted) {
      const ok = resource.write(term.token, `${name} write ${++n}`);
      if (!ok) say(name, paint(31, `write rejected by the fenced resource (token ${term.token})`));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 250);
        term.signal.addEventListener(
          'abort',
          () => {
            clearTimeout(timer);
            resolve();
          },
          { once: true },
        );
      });
    }
  };

  const candidate = (name: string, releaseOnCancel = true) => {
    const elector = new LeaderElector({
      backend: store.lease('demo'),
      identity: name,
      ...TIMINGS,
      releaseOnCancel,
      onStartedLeading: (term) => {
        tokens.push(term.token);
        startedAt.set(name, performance.now());
        say(name, paint(32, `★ leads with fencing token ${term.token}`));
        return work(name, term);
      },
      onStoppedLeading: (term, reason) =>
        say(name, `stopped leading (token ${term.token}, ${reason})`),
    });
    elector.on('newLeader', (leader) => {
      if (leader.identity !== name) {
        say(
          name,
          paint(
            2,
            leader.identity === null
              ? 'sees no leader'
              : `sees leader ${leader.identity} (token ${leader.token})`,
          ),
        );
      }
    });
    elector.on('error', (error) => say(name, paint(31, `error ${error.code}: ${error.message}`)));
    return elector;
  };

  const electors = [candidate('alpha', false), candidate('beta'), candidate('gamma')];
  const [alpha, beta, gamma] = electors as [LeaderElector, LeaderElector, LeaderElector];
  void alpha.run();
  const alphaTerm = await alpha.waitForLeadership({ signal: AbortSignal.timeout(5_000) });
  void beta.run();
  void gamma.run();
  await sleep(2_000);

  // 1. Crash: alpha stops renewing and does not release (as if its process died).
  const lastRenewSentAt = alphaTerm.validUntil - TIMINGS.renewDeadline;
  const crashAt = performance.now();
  say('alpha', paint(33, '✗ crashes: stops renewing, does not release the lease'));
  await alpha.stop();
  const next = await Promise.race(
    [beta, gamma].map((e) => e.waitForLeadership({ signal: AbortSignal.timeout(10_000) })),
  );
  const failoverMs = (startedAt.get(next.identity) ?? performance.now()) - crashAt;
  const expiry = lastRenewSentAt + TIMINGS.leaseDuration;
  const failoverExcessMs = (startedAt.get(next.identity) ?? performance.now()) - expiry;
  print(
    paint(
      36,
      `           failover: ${next.identity} leads ${failoverMs.toFixed(1)} ms after the crash; the lease expired ` +
        `${(expiry - crashAt).toFixed(1)} ms after it (last renewal + leaseDuration), so ${failoverExcessMs.toFixed(1)} ms past expiry`,
    ),
  );
  await sleep(2_000);

  // 2. Graceful stop: the leader releases and the last candidate takes over through the watch.
  const leader = next.identity === 'beta' ? beta : gamma;
  const successor = leader === beta ? gamma : beta;
  say(leader.identity, paint(33, 'stops gracefully: aborts its work, then releases the lease'));
  const stopAt = performance.now();
  const handover = successor.waitForLeadership({ signal: AbortSignal.timeout(10_000) });
  await leader.stop();
  await handover;
  const handoffMs = (startedAt.get(successor.identity) ?? performance.now()) - stopAt;
  print(
    paint(
      36,
      `           handoff: ${successor.identity} leads ${handoffMs.toFixed(1)} ms after the stop began (no poll: the watch saw the release)`,
    ),
  );
  await sleep(1_500);

  say(successor.identity, 'stops; the demo ends');
  await Promise.all(electors.map((e) => e.stop()));
  print('');
  const perToken = new Map<bigint, number>();
  for (const w of resource.accepted) perToken.set(w.token, (perToken.get(w.token) ?? 0) + 1);
  print(paint(1, 'summary'));
  print(`  terms (fencing tokens, strictly increasing): ${tokens.join(' → ')}`);
  print(
    `  fenced writes accepted per token: ${[...perToken].map(([t, n]) => `${t}:${n}`).join(', ')}; rejected: ${resource.rejected.length}`,
  );
  print(
    `  crash failover ${failoverMs.toFixed(1)} ms (lease expiry + ${failoverExcessMs.toFixed(1)} ms); graceful handoff ${handoffMs.toFixed(2)} ms`,
  );
  return { failoverMs, failoverExcessMs, handoffMs, tokens };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
