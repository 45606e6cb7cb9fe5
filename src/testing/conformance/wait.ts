/** Bounded polling for integration tests: never waits longer than `timeoutMs`. */
export async function waitFor<T>(
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  what: string,
  timeoutMs: number,
  intervalMs = 5,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value;
    if (performance.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Active handles by type (Timeout, TCPSocketWrap, ...), for leak checks. */
export function activeResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const name of process.getActiveResourcesInfo())
    counts.set(name, (counts.get(name) ?? 0) + 1);
  return counts;
}

/** Resources present now beyond `baseline` (only positive differences). */
export function leakedSince(baseline: Map<string, number>): Record<string, number> {
  const leaked: Record<string, number> = {};
  for (const [name, count] of activeResources()) {
    const extra = count - (baseline.get(name) ?? 0);
    if (extra > 0) leaked[name] = extra;
  }
  return leaked;
}
