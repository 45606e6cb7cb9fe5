/**
 * The leader's work in the pause scenario on PostgreSQL: a write into the database every
 * `intervalMs`, recorded in two harness tables (created by bench/lib/backends/postgres.mjs):
 *
 *   bench_writes   (election, identity, token, sent_ms)  the writes that committed
 *   bench_rejected (election, identity, token, sent_ms, code)  the ones refused (fenced only)
 *
 * `sent_ms` is the writer's epoch time in ms when it made the write (sub-ms resolution, the
 * harness's clock on one machine). A write started before a pause reaches the server after it.
 */
export const epochMs = () => performance.timeOrigin + performance.now();

/**
 * @param {object} o
 * @param {(sentMs: number) => Promise<void>} o.write   one write; rejects when refused
 * @param {(sentMs: number, error: unknown) => Promise<void>} [o.refused]  records a refusal
 * @param {() => boolean} o.isLeader  whether the writer believes it leads
 * @param {number} o.intervalMs
 */
export function startDatabaseWrites({ write, refused, isLeader, intervalMs }) {
  let stopped = false;
  let timer;
  const tick = () => {
    if (stopped) return;
    if (isLeader()) {
      const sent = epochMs();
      write(sent).catch((error) => refused?.(sent, error).catch(() => {}));
    }
    timer = setTimeout(tick, intervalMs);
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
