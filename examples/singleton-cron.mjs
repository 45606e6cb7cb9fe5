// @ts-check
/**
 * A scheduled job that must run on one replica only: every replica runs this program, they elect
 * a leader over etcd, and only the leader runs the job, once per slot of the schedule.
 *
 * Failover does not run a slot twice: the leader claims each slot with a fenced write
 * (`term.fence.put`, committed only while this term still holds the election) before it runs the
 * job, and a new leader resumes after the last claimed slot. A replica paused past its lease
 * cannot claim any more: etcd rejects the write (LE_NOT_LEADER). A slot whose job was cut short
 * by a failover is not retried (at most once); claim after the job for at least once.
 *
 *   ETCD_ENDPOINTS=http://127.0.0.1:2379 node examples/singleton-cron.mjs
 *
 * Environment: ETCD_ENDPOINTS (comma-separated), JOB_NAME (default `nightly-report`), IDENTITY
 * (default: hostname and pid), INTERVAL_MS (default 60000: one slot a minute), LEASE_DURATION_MS,
 * RENEW_DEADLINE_MS, RETRY_PERIOD_MS (default 15000 / 10000 / 2000).
 */
import { Etcd3 } from 'etcd3';
import { LeaderElector } from 'leader-elect';
import { etcdBackend } from 'leader-elect/etcd';

const env = process.env;
const jobName = env.JOB_NAME ?? 'nightly-report';
const intervalMs = Number(env.INTERVAL_MS ?? 60_000);
const lastSlotKey = `${jobName}/last-slot`;

const client = new Etcd3({ hosts: (env.ETCD_ENDPOINTS ?? 'http://127.0.0.1:2379').split(',') });

const elector = new LeaderElector({
  backend: etcdBackend({ client, election: `${jobName}/election` }),
  ...(env.IDENTITY === undefined ? {} : { identity: env.IDENTITY }),
  leaseDuration: Number(env.LEASE_DURATION_MS ?? 15_000),
  renewDeadline: Number(env.RENEW_DEADLINE_MS ?? 10_000),
  retryPeriod: Number(env.RETRY_PERIOD_MS ?? 2_000),
  onStartedLeading: async (term) => {
    log(`leading (token ${term.token})`);
    const last = await client.get(lastSlotKey).number();
    let slot = Math.max(currentSlot(), last === null ? 0 : last + 1);
    while (!term.signal.aborted) {
      await sleepUntil(slot * intervalMs, term.signal);
      if (term.signal.aborted) break;
      // Claim the slot first: if this term is already over, the write fails and nothing runs.
      await term.fence.put(lastSlotKey, String(slot));
      await runJob(slot, term.token, term.signal);
      slot = Math.max(slot + 1, currentSlot());
    }
  },
  onStoppedLeading: (term, reason) => log(`stopped leading (token ${term.token}): ${reason}`),
  onNewLeader: ({ identity }) => log(`leader is ${identity ?? 'nobody'}`),
});
elector.on('error', (error) => log(`error ${error.code}: ${error.message}`));

/**
 * The job itself. Stop when `signal` aborts (the term ended); pass `token` to the systems you
 * write to, so that they can refuse a late write from an old term.
 * @param {number} slot
 * @param {bigint} token
 * @param {AbortSignal} signal
 */
async function runJob(slot, token, signal) {
  log(`run slot ${slot} (token ${token})`);
  await sleepUntil(Date.now() + Math.min(50, intervalMs / 4), signal); // the work
}

function currentSlot() {
  return Math.ceil(Date.now() / intervalMs);
}

/**
 * @param {number} at  wall-clock time in ms
 * @param {AbortSignal} signal
 */
function sleepUntil(at, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(done, Math.max(0, at - Date.now()));
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve(undefined);
    }
  });
}

/** @param {string} message */
function log(message) {
  console.log(`[${elector.identity}] ${message}`);
}

async function shutdown() {
  await elector.stop(); // aborts the job, waits for it, releases the election at once
  client.close();
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);

void elector.run();
