/**
 * When gRPC reports only "No connection established" (etcd3 retries a failed call and the
 * retries lose the first failure's detail), a direct TLS handshake with the same credentials
 * tells whether TLS is the cause: wrong CA, missing or rejected client certificate. Run only
 * after a connection failure, at most once per interval, bounded in time.
 */
import { connect as connectTcp, isIP } from 'node:net';
import { connect } from 'node:tls';

export interface TlsCredentials {
  readonly rootCertificate?: Buffer | undefined;
  readonly certChain?: Buffer | undefined;
  readonly privateKey?: Buffer | undefined;
}

/** Time to wait after the handshake for the server's verdict on our certificate (TLS 1.3). */
const VERDICT_WAIT_MS = 300;

/**
 * Resolves with a description of the TLS failure against `endpoint`, or `null` when the TLS
 * handshake succeeds (or the endpoint cannot be reached at all, which is not a TLS problem).
 */
export function diagnoseTls(
  endpoint: string,
  credentials: TlsCredentials,
  timeoutMs: number,
): Promise<string | null> {
  const { host, port } = parseEndpoint(endpoint);
  return new Promise((resolve) => {
    let settled = false;
    const socket = connect({
      host,
      port,
      ...(credentials.rootCertificate === undefined ? {} : { ca: credentials.rootCertificate }),
      ...(credentials.certChain === undefined ? {} : { cert: credentials.certChain }),
      ...(credentials.privateKey === undefined ? {} : { key: credentials.privateKey }),
      ...(isIP(host) === 0 ? { servername: host } : {}),
      ALPNProtocols: ['h2'],
    });
    const finish = (verdict: string | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      clearTimeout(verdictTimer);
      socket.destroy();
      resolve(verdict);
    };
    let verdictTimer: ReturnType<typeof setTimeout> | undefined;
    let tcpConnected = false;
    const deadline = setTimeout(() => finish(null), timeoutMs);
    socket.once('connect', () => {
      tcpConnected = true;
    });
    socket.once('secureConnect', () => {
      // With TLS 1.3 the server judges our certificate after our side of the handshake is done:
      // a rejection arrives as an alert right after.
      verdictTimer = setTimeout(() => finish(null), VERDICT_WAIT_MS);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      // Not reaching the server at all is no TLS problem; a reset during the handshake is.
      finish(tcpConnected ? error.message : null);
    });
    socket.once('close', () => {
      if (!settled && verdictTimer !== undefined) {
        finish(
          'the server closed the connection right after the TLS handshake (client certificate rejected?)',
        );
      } else {
        finish(null);
      }
    });
  });
}

function parseEndpoint(endpoint: string): { host: string; port: number } {
  const withScheme = /^[a-z]+:\/\//i.test(endpoint) ? endpoint : `https://${endpoint}`;
  const url = new URL(withScheme);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return { host, port: url.port === '' ? 2379 : Number(url.port) };
}

/**
 * A plain TCP connection to `endpoint`: resolves with Node's error message when it fails
 * (`connect ECONNREFUSED 127.0.0.1:1`, `getaddrinfo ENOTFOUND host`), `timed out` when it hangs,
 * or null when it connects. For a failure whose message lost its cause (etcd3's circuit breaker).
 */
export function probeTcp(endpoint: string, timeoutMs: number): Promise<string | null> {
  const { host, port } = parseEndpoint(endpoint);
  return new Promise((resolve) => {
    const socket = connectTcp({ host, port });
    const finish = (verdict: string | null) => {
      clearTimeout(deadline);
      socket.destroy();
      resolve(verdict);
    };
    const deadline = setTimeout(
      () => finish(`connect ETIMEDOUT ${host}:${port} (timed out)`),
      timeoutMs,
    );
    socket.once('connect', () => finish(null));
    socket.once('error', (error) => finish(error.message));
  });
}
