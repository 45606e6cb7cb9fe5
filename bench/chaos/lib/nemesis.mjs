/**
 * The nemesis: one loop per election and one per backend's servers, each on its own seeded PRNG
 * stream, until the deadline. Every loop is bounded in time (the deadline) and each of its steps
 * is bounded too (waits have timeouts).
 *
 * An election loop: wait until the election is stable → draw a fault among those that apply to it
 * (uniformly; the beyond-margin control at its scheduled times instead) → apply and heal it →
 * wait for recovery → a short gap. A cluster loop does the same with the cluster faults of its
 * backend, which hit every election of that backend at once; the election loops keep running
 * meanwhile, so faults combine (the checker says when they did).
 *
 * Recovery: after a fault heals, the election (every election of the backend, for a cluster
 * fault) must be stable again within `recoveryHardMs`; otherwise it is recorded as
 * `not-recovered` and the election's candidates are restarted so the run can go on.
 */
import { nowMs, sleep } from './clock.mjs';
import { CLUSTER_FAULTS, CONTROL, CONTROL_FAULT, ELECTION_FAULTS } from './faults.mjs';

export class Nemesis {
  #faultSeq = 0;

  /**
   * @param {object} o
   * @param {import('./election.mjs').Election[]} o.elections
   * @param {object} o.servers
   * @param {Array<{name: string, backend: string, etcd?: object, kube?: object}>} o.groups
   *   server groups, each with its own cluster-fault loop
   * @param {import('./history.mjs').History} o.history
   * @param {import('./prng.mjs').Prng} o.prng
   * @param {{leaseDuration: number, renewDeadline: number, retryPeriod: number}} o.timings
   * @param {number} o.deadline           run timeline ms at which no new fault starts
   * @param {Set<string>} o.faults        enabled fault names
   * @param {number} o.controlRuns        beyond-margin controls per backend (0: none)
   * @param {number} o.recoveryHardMs
   * @param {(msg: string) => void} o.log
   */
  constructor(o) {
    Object.assign(this, o);
    this.counts = {};
    const start = nowMs();
    const span = this.deadline - start;
    /** backend → times at which a control is due (claimed by the first library election free then) */
    this.controlDue = {};
    for (const backend of new Set(this.elections.map((e) => e.backend))) {
      const eligible = this.elections.some((e) => e.backend === backend && CONTROL.applies(e));
      const n = eligible && this.faults.has(CONTROL_FAULT) ? this.controlRuns : 0;
      this.controlDue[backend] = Array.from(
        { length: n },
        (_, i) => start + (span * (i + 0.5)) / n,
      );
    }
  }

  async run() {
    const loops = this.elections.map((e) => this.#electionLoop(e));
    for (const group of this.groups) {
      const names = Object.entries(CLUSTER_FAULTS)
        .filter(([name, f]) => f.backend === group.backend && this.faults.has(name))
        .map(([name]) => name);
      if (names.length > 0) loops.push(this.#clusterLoop(group, names));
    }
    await Promise.all(loops);
  }

  /**
   * The beyond-margin control must not be spoiled by a cluster fault (an apiserver without its
   * etcd lets nobody take over, so nobody overlaps): it holds its group's cluster loop, and waits
   * for the fault in progress there to heal and recover.
   */
  async #holdCluster(groupName) {
    const group = this.groups.find((g) => g.name === groupName);
    if (!group) return () => {};
    group.holds = (group.holds ?? 0) + 1;
    const deadline = nowMs() + 60_000;
    while (group.busy && nowMs() < deadline) await sleep(50);
    return () => {
      group.holds -= 1;
    };
  }

  #context(fault, elections, prng, group = null) {
    const id = `f${++this.#faultSeq}`;
    const names = elections.map((e) => e.name);
    let applied = false;
    const ctx = {
      id,
      fault,
      prng,
      timings: this.timings,
      servers: this.servers,
      group,
      elections,
      election: elections[0],
      skipped: null,
      mark: (phase, fields = {}) => {
        if (phase === 'applied') {
          applied = true;
          this.counts[fault] = (this.counts[fault] ?? 0) + 1;
          for (const e of elections) e.activeFaults.add(id);
        }
        this.history.record('fault', { id, fault, phase, elections: names, ...fields });
      },
      skip: (why) => {
        ctx.skipped = why;
        if (applied) ctx.mark('aborted', { why });
      },
      healWith: async (slot, why) => {
        // A fault that could not set itself up: undo it (a normal restart) and say why.
        ctx.mark('aborted', { why });
        slot.heal();
        await slot.stop();
        slot.start();
        ctx.mark('healed');
      },
      stableWithin: (ms) => elections[0].waitStable(ms),
      get applied() {
        return applied;
      },
    };
    return ctx;
  }

  /** Waits for recovery after a heal; records `recovered` or `not-recovered` (and repairs). */
  async #recover(ctx) {
    const healedAt = nowMs();
    // Another fault still at work on an election (a cluster fault and an election fault overlap)
    // extends its wait, up to three times the bound: it is that fault's to heal.
    const waitOne = async (e) => {
      let deadline = healedAt + this.recoveryHardMs;
      const cap = healedAt + 3 * this.recoveryHardMs;
      while (nowMs() < deadline) {
        if (e.stable()) return true;
        const others = [...e.activeFaults].some((id) => id !== ctx.id);
        if (others) deadline = Math.min(cap, Math.max(deadline, nowMs() + 1_000));
        await sleep(20);
      }
      return e.stable();
    };
    const results = await Promise.all(
      ctx.elections.map(async (e) => ({ e, ok: await waitOne(e) })),
    );
    const stuck = results.filter((r) => !r.ok).map((r) => r.e);
    for (const e of ctx.elections) e.activeFaults.delete(ctx.id);
    if (stuck.length === 0) {
      ctx.mark('recovered', { ms: nowMs() - healedAt });
      return;
    }
    ctx.mark('not-recovered', {
      ms: nowMs() - healedAt,
      stuck: stuck.map((e) => ({
        election: e.name,
        slots: e.slots.map((s) => ({
          identity: s.identity,
          running: s.running,
          paused: s.paused,
          leading: s.leadingToken,
          seenLeader: s.seenLeader ?? null,
        })),
      })),
    });
    this.log(
      `not recovered after ${ctx.fault} (${ctx.id}): ${stuck.map((e) => e.name).join(', ')}`,
    );
    for (const e of stuck) {
      for (const s of e.slots) {
        s.heal();
        await s.kill();
        s.start();
      }
    }
  }

  #takeControl(election) {
    if (!CONTROL.applies(election)) return false;
    const due = this.controlDue[election.backend];
    if (!due?.length || due[0] > nowMs()) return false;
    due.shift();
    return true;
  }

  async #electionLoop(election) {
    const prng = this.prng.fork(`election/${election.name}`);
    const available = Object.entries(ELECTION_FAULTS)
      .filter(([name, f]) => this.faults.has(name) && f.applies(election))
      .map(([name]) => name);
    // A fault is drawn every iteration whether or not it can run, so the schedule (the sequence
    // of draws) depends on the seed alone.
    while (nowMs() < this.deadline) {
      const control = this.#takeControl(election);
      const fault = control ? CONTROL_FAULT : available.length ? prng.pick(available) : null;
      if (fault === null) return;
      const faultPrng = prng.fork(`${fault}/${this.counts[fault] ?? 0}`);
      if (
        !(await election.waitStable(this.recoveryHardMs, { until: () => nowMs() >= this.deadline }))
      ) {
        if (nowMs() >= this.deadline) return;
        // Not stable before a fault: recorded as a pseudo-fault `(stuck)` and repaired.
        const ctx = this.#context('(stuck)', [election], faultPrng);
        ctx.mark('applied');
        ctx.mark('healed');
        await this.#recover(ctx);
        continue;
      }
      const ctx = this.#context(fault, [election], faultPrng);
      const run = control ? CONTROL.run : ELECTION_FAULTS[fault].run;
      ctx.holdCluster = () => this.#holdCluster(election.cluster);
      await run(ctx);
      if (ctx.applied) await this.#recover(ctx);
      await sleep(prng.int(100, 600));
    }
  }

  /**
   * Cluster faults of one server group, with a quiet gap after each recovery (etcd 6–10 s,
   * Kubernetes 3–6 s: it has one cluster fault and the controls hold it now and then), so that
   * many election faults of the group's elections run alone: the liveness checks are only made
   * where no other fault was at work.
   */
  async #clusterLoop(group, names) {
    const prng = this.prng.fork(`cluster/${group.name}`);
    const elections = this.elections.filter((e) => e.cluster === group.name);
    while (nowMs() < this.deadline) {
      const fault = prng.pick(names);
      const gap = group.backend === 'etcd' ? prng.int(6000, 10_000) : prng.int(3000, 6000);
      while ((group.holds ?? 0) > 0 && nowMs() < this.deadline) await sleep(100);
      if (nowMs() >= this.deadline) return;
      const ctx = this.#context(
        fault,
        elections,
        prng.fork(`${fault}/${this.counts[fault] ?? 0}`),
        group,
      );
      group.busy = true;
      try {
        await CLUSTER_FAULTS[fault].run(ctx);
        if (ctx.applied) await this.#recover(ctx);
        else await sleep(500);
      } finally {
        group.busy = false;
      }
      await sleep(gap);
    }
  }
}
