// @ts-check
/**
 * An HTTP service on Kubernetes whose replicas elect a leader on a Lease: every replica serves
 * requests, probes and its view of the election; only the leader runs the background work
 * (a controller's reconcile loop, a queue consumer...). On SIGTERM (a rolling update, a scale
 * down) it fails readiness, hands the lease over at once, keeps serving for a drain period,
 * finishes in-flight requests and exits.
 *
 *   GET /healthz  200 unless this replica believes it leads but has stopped renewing (the rule
 *                 of client-go's HealthzAdaptor: a liveness probe restarts a stuck leader)
 *   GET /readyz   200 while the API server answers, 503 while it does not (with the reason) and
 *                 while shutting down
 *   GET /         {"identity", "leading", "leader", "token"} as JSON
 *
 *   KUBECONFIG=~/.kube/config NAMESPACE=default node examples/http-service.mjs
 *
 * Environment: NAMESPACE (default `default`), LEASE_NAME (default `http-service`), POD_NAME (the
 * identity; default: hostname and pid), HOST (default 0.0.0.0) and PORT (default 8080; 0 picks
 * a free port), DRAIN_MS (default 5000), LEASE_DURATION_MS, RENEW_DEADLINE_MS, RETRY_PERIOD_MS (default 15000 / 10000 /
 * 2000; the Lease API counts whole seconds). Credentials: KUBECONFIG, ~/.kube/config, or the
 * pod's service account (RBAC: get/list/watch/create/update on leases in NAMESPACE).
 */
import { createServer } from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';
import { LeaderElector } from 'leader-elect';
import { kubernetesBackend } from 'leader-elect/kubernetes';

const env = process.env;
const drainMs = Number(env.DRAIN_MS ?? 5_000);
const kubeConfig = new KubeConfig();
kubeConfig.loadFromDefault();

const elector = new LeaderElector({
  backend: kubernetesBackend({
    kubeConfig,
    namespace: env.NAMESPACE ?? 'default',
    name: env.LEASE_NAME ?? 'http-service',
  }),
  ...(env.POD_NAME === undefined ? {} : { identity: env.POD_NAME }),
  leaseDuration: Number(env.LEASE_DURATION_MS ?? 15_000),
  renewDeadline: Number(env.RENEW_DEADLINE_MS ?? 10_000),
  retryPeriod: Number(env.RETRY_PERIOD_MS ?? 2_000),
  onStartedLeading: async (term) => {
    log(`leading (token ${term.token})`);
    // The leader-only work: run until the term ends, pass term.token to what you write to.
    while (!term.signal.aborted) await reconcile(term.signal);
  },
  onStoppedLeading: (term, reason) => log(`stopped leading (token ${term.token}): ${reason}`),
  onNewLeader: ({ identity }) => log(`leader is ${identity ?? 'nobody'}`),
});
elector.on('error', (error) => log(`error ${error.code}: ${error.message}`));
elector.on('readiness', ({ ready, reason }) => log(ready ? 'ready' : `not ready: ${reason}`));

let shuttingDown = false;

/**
 * Readiness: the elector can reach the API server (its last request got an answer), and this
 * replica is not shutting down. A follower that cannot reach the API server is healthy by
 * client-go's rule (a restart would not help), but it is not ready: it could not take over.
 * @returns {{ ok: boolean, message: string }}
 */
function readiness() {
  if (shuttingDown) return { ok: false, message: 'shutting down' };
  const { ready, reason } = elector.readiness();
  if (!ready) return { ok: false, message: reason };
  return {
    ok: true,
    message: elector.isLeader() ? 'leading' : `following ${elector.leader?.identity ?? 'nobody'}`,
  };
}

const server = createServer((request, response) => {
  const reply = (/** @type {number} */ status, /** @type {string} */ body, type = 'text/plain') =>
    response.writeHead(status, { 'content-type': type }).end(`${body}\n`);
  switch (request.url) {
    case '/healthz': {
      const health = elector.healthz();
      return reply(health.ok ? 200 : 500, health.message);
    }
    case '/readyz': {
      const ready = readiness();
      return reply(ready.ok ? 200 : 503, ready.message);
    }
    case '/': {
      const term = elector.currentTerm();
      const view = {
        identity: elector.identity,
        leading: term !== null,
        leader: elector.leader?.identity ?? null,
        token: term?.token.toString() ?? null,
      };
      return reply(200, JSON.stringify(view), 'application/json');
    }
    default:
      return reply(404, 'not found');
  }
});

/**
 * One pass of the leader's work. Return soon after `signal` aborts.
 * @param {AbortSignal} signal
 */
async function reconcile(signal) {
  await new Promise((resolve) => {
    const timer = setTimeout(done, 1_000);
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
  shuttingDown = true; // /readyz fails from now on
  log('shutting down');
  await elector.stop(); // aborts the work, waits for it, releases the lease: another replica leads
  // Load balancers take a moment to notice the failing readiness (Kubernetes removes a
  // terminating pod from its Services asynchronously): keep serving meanwhile.
  log(`draining for ${drainMs} ms`);
  await new Promise((resolve) => setTimeout(resolve, drainMs));
  server.closeIdleConnections();
  await new Promise((resolve) => server.close(resolve)); // in-flight requests finish first
  log('stopped');
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);

server.listen(Number(env.PORT ?? 8080), env.HOST ?? '0.0.0.0', () => {
  const address = server.address();
  log(`listening on port ${typeof address === 'object' && address !== null ? address.port : '?'}`);
  void elector.run();
});
