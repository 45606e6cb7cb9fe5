/**
 * The run's one timeline: CLOCK_MONOTONIC in milliseconds (`process.hrtime`), which every process
 * on the machine shares. The harness, the fenced resource and the candidates stamp with it, so
 * their records compare directly. (A candidate under libfaketime sees a faked clock; the harness
 * therefore stamps candidate lines itself when they arrive, and uses candidates' own stamps only
 * where it says so.)
 */
export function nowMs() {
  return Number(process.hrtime.bigint()) / 1e6;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
