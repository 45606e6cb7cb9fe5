/**
 * What a failed connection's message says about its cause, in words a user can act on:
 * refused, DNS, timeout, TLS expected or not, certificate. gRPC and Node put the cause in the
 * message text (`connect ECONNREFUSED 127.0.0.1:1`, `Name resolution failed for target
 * dns:host:2379`, ...); this reads it there, once, for every backend. Pure: text in, text out.
 */

export type ConnectionCauseKind =
  | 'refused'
  | 'dns'
  | 'timeout'
  | 'tls-not-spoken'
  | 'tls-expected'
  | 'certificate'
  | 'reset'
  | 'unreachable';

export interface ConnectionCause {
  readonly kind: ConnectionCauseKind;
  /** One clause, e.g. `connection refused by 127.0.0.1:1 (nothing listens there ...)`. */
  readonly text: string;
}

const RULES: readonly {
  readonly kind: ConnectionCauseKind;
  readonly test: RegExp;
  readonly text: (match: RegExpExecArray) => string;
}[] = [
  {
    kind: 'refused',
    test: /ECONNREFUSED\s*([^\s),;]+)?/,
    text: (m) =>
      `connection refused${m[1] === undefined ? '' : ` by ${m[1].replace(/\.$/, '')}`} (nothing listens there: a wrong port, or the server is down)`,
  },
  {
    kind: 'dns',
    test: /(?:getaddrinfo )?(?:ENOTFOUND|EAI_AGAIN)\s*([^\s),;]+)?|Name resolution failed for target (?:dns:)?([^\s),;]+)/,
    text: (m) => {
      const host = (m[1] ?? m[2] ?? '').replace(/:\d+$/, '');
      return `cannot resolve ${host === '' ? 'the host name' : host} (DNS): check the host name`;
    },
  },
  {
    kind: 'tls-not-spoken',
    test: /disconnected before secure TLS connection|wrong version number|packet length too long|unknown protocol/i,
    text: () =>
      'the server does not speak TLS on that port: use http:// (or enable TLS on the server)',
  },
  {
    kind: 'certificate',
    test: /self[- ]signed certificate|unable to (?:verify|get local issuer)|certificate has expired|certificate is not yet valid|Hostname\/IP does not match|ERR_TLS_CERT|CERT_\w+|bad certificate|certificate required|unknown ca/i,
    text: (m) =>
      `TLS certificate problem (${m[0]}): check the CA certificate and the client certificate and key`,
  },
  {
    kind: 'tls-expected',
    test: /Protocol error|Received HTTP\/0\.9|HTTP\/1\.[01] 400|malformed HTTP response|Parse Error/i,
    text: () =>
      'the server did not answer in plain HTTP/2 (does it expect TLS? use https:// and the TLS flags)',
  },
  {
    kind: 'timeout',
    test: /ETIMEDOUT|DEADLINE_EXCEEDED|Deadline exceeded|timed out|TimeoutError|aborted due to timeout/i,
    text: () =>
      'no answer in time (a firewall or partition drops the packets, or the server is overloaded)',
  },
  {
    kind: 'reset',
    test: /ECONNRESET|socket hang up|Connection dropped/i,
    text: () => 'the connection was reset by the server or the network',
  },
  {
    kind: 'unreachable',
    test: /EHOSTUNREACH|ENETUNREACH|EADDRNOTAVAIL/,
    text: () => 'the host is unreachable from here (no route)',
  },
];

/** The cause a connection failure's message names, or null when it names none. */
export function connectionCause(message: string): ConnectionCause | null {
  for (const rule of RULES) {
    const match = rule.test.exec(message);
    if (match !== null) return { kind: rule.kind, text: rule.text(match) };
  }
  return null;
}
