/**
 * One election of the run: its candidate slots, and what the nemesis asks of it online —
 * who leads now, whether it is stable (a leader that is not paused, every candidate running and
 * naming that leader), and who is next in line on etcd.
 */
import { nowMs, sleep } from './clock.mjs';

export class Election {
  /**
   * @param {{name: string, backend: 'etcd'|'kubernetes', kind: 'library'|'cli',
   *          cluster: string, etcd?: object, slots: import('./candidates.mjs').CandidateSlot[]}} o
   *   `cluster`: the server group whose cluster faults hit it (`etcd-0`, `etcd-1`, `kubernetes`)
   */
  constructor(o) {
    Object.assign(this, o);
    /** faults in progress on this election (their ids), cluster faults included */
    this.activeFaults = new Set();
  }

  /** The running slot that leads with the highest token, or null. */
  leader() {
    let best = null;
    for (const slot of this.slots) {
      if (!slot.running || slot.leadingToken === null) continue;
      if (best === null || BigInt(slot.leadingToken) > BigInt(best.leadingToken)) best = slot;
    }
    return best;
  }

  followers() {
    const leader = this.leader();
    return this.slots.filter((s) => s !== leader);
  }

  /** A leader that is not paused, and every candidate running and naming it. */
  stable() {
    const leader = this.leader();
    if (leader === null || leader.paused) return false;
    return this.slots.every(
      (s) => s.running && !s.paused && (s === leader || s.seenLeader === leader.identity),
    );
  }

  /** Resolves true once stable (checked every 20 ms), false after timeoutMs. */
  async waitStable(timeoutMs, { until = () => false } = {}) {
    const deadline = nowMs() + timeoutMs;
    while (nowMs() < deadline && !until()) {
      if (this.stable()) return true;
      await sleep(20);
    }
    return this.stable();
  }

  /**
   * etcd: the follower whose key is next after the leader's (second-lowest create revision),
   * read from the cluster through the harness's own client (not through any proxy).
   */
  async nextInLine(etcdClient) {
    const res = await etcdClient.getAll().prefix(`${this.name}/`).sort('Create', 'Ascend').exec();
    const second = res.kvs[1];
    if (!second) return null;
    const identity = second.value.toString();
    return this.slots.find((s) => s.running && s.identity === identity) ?? null;
  }
}
