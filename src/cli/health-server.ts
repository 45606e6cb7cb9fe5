/**
 * `--health-port`: an HTTP endpoint for probes and scrapes.
 * - `GET /healthz`: client-go's HealthzAdaptor semantics through `elector.healthz(tolerance)`:
 *   200 `ok` unless we believe we lead but have not renewed for longer than
 *   `leaseDuration + tolerance`, then 500 with the reason.
 * - `GET /readyz`: `elector.readiness()`: 200 `ready` while the backend answers, 503 with the
 *   reason while it cannot be reached (before its first answer, after a failed request).
 * - `GET /metrics`: Prometheus text format from prom-client, with `leader-elect/prometheus`'s
 *   metrics (`leader_election_master_status{name}` …) and the process's default metrics.
 * prom-client is loaded only when the endpoint is enabled.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ElectionMetrics, HealthStatus, Readiness } from '../index.js';
import { CliError, ExitCode } from './exit-codes.js';

export interface MetricsRegistry {
  readonly contentType: string;
  metrics(): Promise<string>;
}

export interface PrometheusSetup {
  readonly registry: MetricsRegistry;
  readonly sink: ElectionMetrics;
  /** Sets `leader_elect_child_running` (1 while the command runs). */
  childRunning(running: boolean): void;
}

export interface PrometheusModules {
  readonly client: typeof import('prom-client');
  readonly sink: typeof import('../prometheus/index.js');
}

/** prom-client and our sink over it, loaded only when `--health-port` is given. */
export async function loadPrometheus(): Promise<PrometheusModules> {
  try {
    return { client: await import('prom-client'), sink: await import('../prometheus/index.js') };
  } catch (error) {
    throw new CliError(
      ExitCode.Usage,
      '--health-port needs the prom-client package for /metrics: npm install prom-client (or run without --health-port)',
      { cause: error },
    );
  }
}

/** A private registry with the election metrics, the process metrics and the child gauge. */
export function createPrometheus(modules: PrometheusModules, name: string): PrometheusSetup {
  const { client } = modules;
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  const child = new client.Gauge({
    name: 'leader_elect_child_running',
    help: 'Whether the command of `leader-elect run` is running (1) or not (0).',
    labelNames: ['name'],
    registers: [registry],
  });
  child.set({ name }, 0);
  return {
    registry,
    sink: modules.sink.prometheusMetrics({ registry }),
    childRunning: (running) => child.set({ name }, running ? 1 : 0),
  };
}

export interface HealthServerOptions {
  readonly address: string;
  readonly port: number;
  readonly health: () => HealthStatus;
  /** For /readyz (absent: 404). */
  readonly readiness?: () => Readiness;
  readonly registry: MetricsRegistry;
}

export interface HealthServer {
  /** e.g. `http://127.0.0.1:9090`. */
  readonly url: string;
  close(): Promise<void>;
}

export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const server = createServer((request, response) => {
    void handle(options, request, response);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.address, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((error: unknown) => {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new CliError(
      ExitCode.Usage,
      `cannot listen on ${options.address}:${options.port} for --health-port: ${code}; choose another --health-port or --health-address`,
      { cause: error },
    );
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return { url: `http://${host}:${address.port}`, close: () => closeServer(server) };
}

async function handle(
  options: HealthServerOptions,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const path = (request.url ?? '/').split('?')[0];
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    reply(response, 405, 'text/plain; charset=utf-8', 'method not allowed\n', {
      allow: 'GET, HEAD',
    });
    return;
  }
  try {
    if (path === '/healthz' || path === '/healthz/leaderElection') {
      const status = options.health();
      if (status.ok) reply(response, 200, 'text/plain; charset=utf-8', 'ok\n');
      else
        reply(
          response,
          500,
          'text/plain; charset=utf-8',
          `leaderElection failed: ${status.message}\n`,
        );
      return;
    }
    if (path === '/readyz' && options.readiness !== undefined) {
      const readiness = options.readiness();
      if (readiness.ready) reply(response, 200, 'text/plain; charset=utf-8', 'ready\n');
      else reply(response, 503, 'text/plain; charset=utf-8', `not ready: ${readiness.reason}\n`);
      return;
    }
    if (path === '/metrics') {
      const body = await options.registry.metrics();
      reply(response, 200, options.registry.contentType, body);
      return;
    }
    reply(
      response,
      404,
      'text/plain; charset=utf-8',
      'not found: try /healthz, /readyz or /metrics\n',
    );
  } catch (error) {
    reply(response, 500, 'text/plain; charset=utf-8', `internal error: ${String(error)}\n`);
  }
}

function reply(
  response: ServerResponse,
  status: number,
  contentType: string,
  body: string,
  headers: Record<string, string> = {},
): void {
  response.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...headers,
  });
  response.end(response.req.method === 'HEAD' ? undefined : body);
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
