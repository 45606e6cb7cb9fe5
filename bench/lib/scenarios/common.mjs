/** Helpers shared by the scenarios. */

/** The lease duration an implementation actually runs with (some cannot be configured). */
export function effectiveLeaseMs(impl, profile) {
  return impl.fixedTtlMs ?? profile.leaseDuration;
}

/** Timeout of a set-up step (first election, followers settling): generous. */
export function setupTimeout(impl, profile) {
  return Math.max(20_000, 4 * effectiveLeaseMs(impl, profile) + 10_000);
}

/**
 * How long a trial waits for the next leader before counting the trial as a missed takeover:
 * three lease durations plus 5 s (a correct implementation takes over within about one).
 */
export function takeoverTimeout(impl, profile) {
  return 3 * effectiveLeaseMs(impl, profile) + 5_000;
}

/**
 * After this many missed takeovers in a row an implementation's scenario ends early (each miss
 * costs a full timeout); scenarios take `maxMisses` to change it.
 */
export const MAX_CONSECUTIVE_MISSES = 3;

/** Sends the implementation's graceful stop; returns the harness time it was sent. */
export function sendGracefulStop(impl, candidate) {
  if (impl.graceful === 'step-down') return candidate.send('step-down');
  if (impl.graceful === 'exit-command') return candidate.send('exit');
  return candidate.signal('SIGTERM');
}

/** Resolves with the event, or null on timeout (a missed takeover); rethrows other failures. */
export async function electedOrNull(candidate, { from, timeoutMs }) {
  try {
    return await candidate.waitFor('elected', { from, timeoutMs });
  } catch (error) {
    if (/no awaited event within/.test(String(error?.message))) return null;
    throw error;
  }
}

/** Runs `count` lanes of `fn(lane)` at once; each lane is an independent election. */
export async function inLanes(count, fn) {
  const results = await Promise.allSettled(Array.from({ length: count }, (_, lane) => fn(lane)));
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => r.value);
}
