/**
 * Reads the history of the fenced etcd keys (`chaos-fenced/<election>`) back from the cluster:
 * a watch from revision 1 replays every put with its revision (the run's cluster is never
 * compacted). Bounded: it stops when the newest revision of every key has been seen, or after
 * `timeoutMs`.
 *
 * @returns {Promise<{byElection: Record<string, Array<{revision: string, token: string, seq: number, candidate: string}>>, complete: boolean}>}
 */
export async function readFencedHistory(
  client,
  { prefix = 'chaos-fenced/', timeoutMs = 60_000 } = {},
) {
  const latest = await client.getAll().prefix(prefix).exec();
  const pending = new Map(latest.kvs.map((kv) => [kv.key.toString(), BigInt(kv.mod_revision)]));
  const byElection = {};
  if (pending.size === 0) return { byElection, complete: true };
  const watcher = await client.watch().prefix(prefix).startRevision('1').create();
  let complete = false;
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    watcher.on('put', (kv) => {
      const key = kv.key.toString();
      const election = key.slice(prefix.length);
      let value;
      try {
        value = JSON.parse(kv.value.toString());
      } catch {
        value = { token: '-1', seq: -1, candidate: '(unreadable)' };
      }
      byElection[election] ??= [];
      byElection[election].push({
        revision: String(kv.mod_revision),
        token: String(value.token),
        seq: value.seq,
        candidate: value.candidate,
      });
      const last = pending.get(key);
      if (last !== undefined && BigInt(kv.mod_revision) >= last) pending.delete(key);
      if (pending.size === 0) {
        complete = true;
        clearTimeout(timer);
        resolve();
      }
    });
    watcher.on('error', () => {});
  });
  await watcher.cancel().catch(() => {});
  return { byElection, complete };
}
