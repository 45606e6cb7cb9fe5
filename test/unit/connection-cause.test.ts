import { describe, expect, test } from 'vitest';
import { connectionCause } from '../../src/connection-cause.js';
import { toEtcdError } from '../../src/etcd/etcd-errors.js';
import { ErrorCode } from '../../src/index.js';

describe('connection failures name their cause', () => {
  test.each([
    [
      '14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note:',
      'refused',
      'connection refused by 127.0.0.1:1 (nothing listens there',
    ],
    [
      '14 UNAVAILABLE: Name resolution failed for target dns:nosuchhost.invalid:2379',
      'dns',
      'cannot resolve nosuchhost.invalid (DNS)',
    ],
    ['getaddrinfo ENOTFOUND etcd-0', 'dns', 'cannot resolve etcd-0 (DNS)'],
    [
      'Client network socket disconnected before secure TLS connection was established',
      'tls-not-spoken',
      'does not speak TLS',
    ],
    ['self-signed certificate in certificate chain', 'certificate', 'TLS certificate problem'],
    ['4 DEADLINE_EXCEEDED: Deadline exceeded after 5.001s', 'timeout', 'no answer in time'],
    ['read ECONNRESET', 'reset', 'reset'],
    ['connect EHOSTUNREACH 10.0.0.9:2379', 'unreachable', 'unreachable'],
  ])('%s → %s', (message, kind, text) => {
    const cause = connectionCause(message);
    expect(cause?.kind).toBe(kind);
    expect(cause?.text).toContain(text);
  });

  test('a message that names no connection cause is left alone', () => {
    expect(connectionCause('etcdserver: no leader')).toBeNull();
    expect(connectionCause('permission denied')).toBeNull();
  });

  test('etcd errors: refused is a transient LE_BACKEND_UNAVAILABLE, plain HTTP under https a LE_TLS_ERROR', () => {
    const refused = toEtcdError(new Error('connect ECONNREFUSED 127.0.0.1:1'), {
      operation: 'campaign',
      endpoints: ['http://127.0.0.1:1'],
    });
    expect(refused).toMatchObject({ code: ErrorCode.BackendUnavailable, transient: true });
    expect(refused.message).toBe(
      'campaign: etcd at http://127.0.0.1:1 is unavailable: connection refused by 127.0.0.1:1 (nothing listens there: a wrong port, or the server is down)',
    );
    const plain = toEtcdError(
      new Error(
        'No connection established. Last error: Client network socket disconnected before secure TLS connection was established',
      ),
      { operation: 'inspect', endpoints: ['https://127.0.0.1:2379'] },
    );
    expect(plain).toMatchObject({ code: ErrorCode.TlsError, transient: false });
    expect(plain.details.cause).toBe('tls-not-spoken');
  });
});
