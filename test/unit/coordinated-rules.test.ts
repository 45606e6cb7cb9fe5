/**
 * The pure parts of the coordinated candidate (KEP-4355): the step rules, the record it writes,
 * the option validation (the apiserver's LeaseCandidate rules), semantic versions and the ping
 * rule. No server: the lifecycle on a real apiserver is in test/kubernetes/coordinated*.test.ts.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, test } from 'vitest';
import { ErrorCode, isLeaderElectError, type LeaseRecord } from '../../src/index.js';
import {
  coordinatedStep,
  coordinatedWrite,
  releasedRecord,
} from '../../src/kubernetes/coordinated-rules.js';
import { kubernetesBackend } from '../../src/kubernetes/index.js';
import {
  awaitsAnswer,
  candidateNameProblem,
  describesUs,
  microTimeValue,
  newLeaseCandidate,
  renewedLeaseCandidate,
  validateCoordinatedOptions,
} from '../../src/kubernetes/lease-candidate.js';
import {
  compareSemanticVersions,
  parseSemanticVersion,
  type SemanticVersion,
} from '../../src/kubernetes/semantic-version.js';

const record = (overrides: Partial<LeaseRecord> = {}): LeaseRecord => ({
  holderIdentity: 'a',
  leaseDurationMs: 5000,
  acquireTime: '',
  renewTime: '2026-01-01T00:00:00.000000Z',
  leaseTransitions: 3,
  strategy: 'OldestEmulationVersion',
  ...overrides,
});

describe('coordinatedStep', () => {
  test('a follower never acquires: absent, free or foreign Leases mean wait', () => {
    expect(coordinatedStep(null, 'a', null)).toEqual({ action: 'wait' });
    expect(coordinatedStep(record({ holderIdentity: '' }), 'a', null)).toEqual({ action: 'wait' });
    expect(coordinatedStep(record({ holderIdentity: 'b' }), 'a', null)).toEqual({
      action: 'wait',
    });
  });

  test('a follower named by the controller writes (claims); one preferred elsewhere yields', () => {
    expect(coordinatedStep(record(), 'a', null)).toEqual({ action: 'write' });
    expect(coordinatedStep(record({ preferredHolder: 'a' }), 'a', null)).toEqual({
      action: 'write',
    });
    expect(coordinatedStep(record({ preferredHolder: '' }), 'a', null)).toEqual({
      action: 'write',
    });
    expect(coordinatedStep(record({ preferredHolder: 'b' }), 'a', null)).toEqual({
      action: 'yield',
      preferredHolder: 'b',
    });
  });

  test('a leader renews only its own term; anything else ends it', () => {
    expect(coordinatedStep(record(), 'a', 3n)).toEqual({ action: 'write' });
    expect(coordinatedStep(record(), 'a', 2n)).toEqual({ action: 'lost' });
    expect(coordinatedStep(record({ holderIdentity: 'b' }), 'a', 3n)).toEqual({ action: 'lost' });
    expect(coordinatedStep(record({ holderIdentity: '' }), 'a', 3n)).toEqual({ action: 'lost' });
    expect(coordinatedStep(null, 'a', 3n)).toEqual({ action: 'lost' });
    expect(coordinatedStep(record({ preferredHolder: 'b' }), 'a', 3n)).toEqual({
      action: 'yield',
      preferredHolder: 'b',
    });
  });
});

describe('coordinatedWrite', () => {
  const base = {
    identity: 'a',
    leaseDurationMs: 15_000,
    wallTime: '2026-01-01T00:00:09.000000Z',
    highestSeen: null,
    clearPreferred: false,
  };

  test('a new term: token above every one seen, acquire time set, our duration', () => {
    const written = coordinatedWrite(record(), { ...base, token: null });
    expect(written).toEqual({
      holderIdentity: 'a',
      leaseDurationMs: 15_000,
      acquireTime: base.wallTime,
      renewTime: base.wallTime,
      leaseTransitions: 4,
      strategy: 'OldestEmulationVersion',
    });
    // A re-created Lease (transitions back at 0) still gets a token above the ones seen.
    expect(
      coordinatedWrite(record({ leaseTransitions: 0 }), { ...base, token: null, highestSeen: 7 })
        .leaseTransitions,
    ).toBe(8);
  });

  test('a renewal keeps token and acquire time; a stale preferred holder is cleared', () => {
    const current = record({ acquireTime: '2026-01-01T00:00:01.000000Z', preferredHolder: 'b' });
    const renewed = coordinatedWrite(current, { ...base, token: 3n });
    expect(renewed.leaseTransitions).toBe(3);
    expect(renewed.acquireTime).toBe(current.acquireTime);
    expect(renewed.renewTime).toBe(base.wallTime);
    expect(renewed.preferredHolder).toBe('b');
    expect(
      'preferredHolder' in coordinatedWrite(current, { ...base, token: 3n, clearPreferred: true }),
    ).toBe(false);
  });
});

describe('semantic versions (the apiserver rule: strict SemVer, no leading v)', () => {
  const ok = (text: string) => parseSemanticVersion(text) as SemanticVersion;
  test.each(['1.33.0', '0.0.1', '1.34.0-alpha.1', '1.34.0-rc.1+build.5', '10.20.30'])(
    'accepts %s',
    (text) => {
      expect(typeof parseSemanticVersion(text)).toBe('object');
    },
  );
  test.each([
    ['v1.33.0', 'leading "v"'],
    ['1.33', 'MAJOR.MINOR.PATCH'],
    ['1.033.0', 'MAJOR.MINOR.PATCH'],
    ['1.33.0-', 'MAJOR.MINOR.PATCH'],
    ['', 'MAJOR.MINOR.PATCH'],
    [' 1.33.0', 'MAJOR.MINOR.PATCH'],
  ])('rejects %j', (text, why) => {
    expect(parseSemanticVersion(text)).toEqual(expect.stringContaining(why));
  });
  test('precedence', () => {
    const order = [
      '1.0.0-alpha',
      '1.0.0-alpha.1',
      '1.0.0-alpha.beta',
      '1.0.0-beta',
      '1.0.0-beta.2',
      '1.0.0-beta.11',
      '1.0.0-rc.1',
      '1.0.0',
      '1.0.1',
      '1.2.0',
      '2.0.0',
    ];
    for (let i = 1; i < order.length; i++) {
      expect(compareSemanticVersions(ok(order[i - 1]!), ok(order[i]!)), order[i]).toBe(-1);
      expect(compareSemanticVersions(ok(order[i]!), ok(order[i - 1]!)), order[i]).toBe(1);
    }
    expect(compareSemanticVersions(ok('1.2.3+a'), ok('1.2.3+b'))).toBe(0);
  });
});

describe('coordinated options (LE_INVALID_OPTION at construction)', () => {
  const invalid = (options: unknown): Record<string, unknown> => {
    try {
      validateCoordinatedOptions(options, 'lease');
    } catch (error) {
      expect(isLeaderElectError(error)).toBe(true);
      if (!isLeaderElectError(error)) throw error;
      expect(error.code).toBe(ErrorCode.InvalidOption);
      return { message: error.message, ...error.details };
    }
    throw new Error(`accepted ${JSON.stringify(options)}`);
  };

  test('defaults: strategy OldestEmulationVersion, fallback error', () => {
    expect(
      validateCoordinatedOptions({ binaryVersion: '1.34.1', emulationVersion: '1.33.0' }, 'lease'),
    ).toMatchObject({
      leaseName: 'lease',
      binaryVersion: '1.34.1',
      emulationVersion: '1.33.0',
      strategy: 'OldestEmulationVersion',
      fallback: 'error',
    });
  });

  test.each([
    [{ emulationVersion: '1.33.0' }, 'coordinated.binaryVersion', 'required'],
    [{ binaryVersion: '', emulationVersion: '1.33.0' }, 'coordinated.binaryVersion', 'required'],
    [
      { binaryVersion: 'v1.34.0', emulationVersion: '1.33.0' },
      'coordinated.binaryVersion',
      'leading "v"',
    ],
    [{ binaryVersion: 1.34, emulationVersion: '1.33.0' }, 'coordinated.binaryVersion', 'string'],
    [{ binaryVersion: '1.34.0' }, 'coordinated.emulationVersion', 'required with strategy'],
    [
      { binaryVersion: '1.34.0', emulationVersion: 'v1.33.0' },
      'coordinated.emulationVersion',
      'leading "v"',
    ],
    [
      { binaryVersion: '1.34.0', emulationVersion: '1.33' },
      'coordinated.emulationVersion',
      'semantic version',
    ],
    [
      { binaryVersion: '1.34.0', emulationVersion: '1.35.0' },
      'coordinated.emulationVersion',
      'at most binaryVersion',
    ],
    [
      { binaryVersion: '1.34.0', emulationVersion: '1.34.1-rc.0' },
      'coordinated.emulationVersion',
      'at most binaryVersion',
    ],
    [
      { binaryVersion: '1.34.0', emulationVersion: '0.0.0' },
      'coordinated.emulationVersion',
      '0.0.0',
    ],
    [
      { binaryVersion: '1.34.0', emulationVersion: '1.33.0', strategy: 'NewestEmulationVersion' },
      'coordinated.strategy',
      'not a built-in strategy',
    ],
    [
      { binaryVersion: '1.34.0', emulationVersion: '1.33.0', strategy: 'a/b/c' },
      'coordinated.strategy',
      'qualified name',
    ],
    [
      { binaryVersion: '1.34.0', emulationVersion: '1.33.0', strategy: 'Example.com/x' },
      'coordinated.strategy',
      'DNS-1123',
    ],
    [
      { binaryVersion: '1.34.0', emulationVersion: '1.33.0', strategy: 'example.com/-x' },
      'coordinated.strategy',
      'alphanumeric',
    ],
    [
      { binaryVersion: '1.34.0', emulationVersion: '1.33.0', fallback: 'ignore' },
      'coordinated.fallback',
      '"election"',
    ],
    [
      { binaryVersion: '1.34.0', emulationVersion: '1.33.0', onFallback: 'log' },
      'coordinated.onFallback',
      'function',
    ],
    ['1.34.0', 'coordinated.', 'object'],
  ])('%j → %s', (options, option, why) => {
    const failure = invalid(options);
    expect(failure.option).toBe(option);
    expect(failure.message).toContain(why);
  });

  test('emulation equal to binary, a pre-release binary, a third-party strategy without emulation', () => {
    expect(() =>
      validateCoordinatedOptions({ binaryVersion: '1.34.0', emulationVersion: '1.34.0' }, 'l'),
    ).not.toThrow();
    expect(() =>
      validateCoordinatedOptions({ binaryVersion: '1.34.0-rc.1', emulationVersion: '1.33.0' }, 'l'),
    ).not.toThrow();
    expect(
      validateCoordinatedOptions(
        { binaryVersion: '1.34.0', strategy: 'example.com/round-robin' },
        'l',
      ),
    ).toMatchObject({ emulationVersion: '', strategy: 'example.com/round-robin' });
  });

  test('kubernetesBackend validates before it touches the KubeConfig or the network', () => {
    const kubeConfig = new KubeConfig(); // not loaded: the store would reject it
    expect(() =>
      kubernetesBackend({
        kubeConfig,
        namespace: 'default',
        name: 'lease',
        coordinated: { binaryVersion: '1.34.0', emulationVersion: '1.35.0' },
      }),
    ).toThrow(expect.objectContaining({ code: ErrorCode.InvalidOption }));
  });
});

describe('the LeaseCandidate object', () => {
  const settings = validateCoordinatedOptions(
    { binaryVersion: '1.34.1', emulationVersion: '1.33.0' },
    'my-lease',
  );

  test('created with our spec and a renew time; renewed with our versions, lease name kept', () => {
    const created = newLeaseCandidate(
      'node-a',
      'ns',
      settings,
      new Date('2026-01-02T03:04:05.678Z'),
    );
    expect(created).toEqual({
      apiVersion: 'coordination.k8s.io/v1beta1',
      kind: 'LeaseCandidate',
      metadata: { name: 'node-a', namespace: 'ns' },
      spec: {
        leaseName: 'my-lease',
        binaryVersion: '1.34.1',
        emulationVersion: '1.33.0',
        strategy: 'OldestEmulationVersion',
        renewTime: '2026-01-02T03:04:05.678000Z',
      },
    });
    const old = {
      metadata: { name: 'node-a', resourceVersion: '7', labels: { app: 'x' } },
      spec: {
        leaseName: 'my-lease',
        binaryVersion: '1.33.0',
        emulationVersion: '1.32.0',
        strategy: 'OldestEmulationVersion',
        pingTime: '2026-01-02T03:04:06.000000Z',
      },
    };
    expect(describesUs(old, settings)).toBe(false);
    const renewed = renewedLeaseCandidate(old, settings, new Date('2026-01-02T03:04:07Z'));
    expect(renewed.metadata).toEqual(old.metadata);
    expect(renewed.spec).toMatchObject({
      leaseName: 'my-lease',
      binaryVersion: '1.34.1',
      emulationVersion: '1.33.0',
      pingTime: old.spec.pingTime,
      renewTime: '2026-01-02T03:04:07.000000Z',
    });
    expect(describesUs(renewed, settings)).toBe(true);
  });

  test('a ping awaits an answer while it is later than the renew time', () => {
    const at = (pingTime: string | undefined, renewTime: string | undefined) =>
      awaitsAnswer({
        metadata: {},
        spec: {
          ...(pingTime === undefined ? {} : { pingTime }),
          ...(renewTime === undefined ? {} : { renewTime }),
        },
      });
    expect(at(undefined, '2026-01-01T00:00:00.000000Z')).toBe(false);
    expect(at('2026-01-01T00:00:01.000000Z', '2026-01-01T00:00:00.000000Z')).toBe(true);
    expect(at('2026-01-01T00:00:00.000001Z', '2026-01-01T00:00:00.000000Z')).toBe(true);
    expect(at('2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')).toBe(false);
    expect(at('2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000001Z')).toBe(false);
    expect(at('2026-01-01T00:00:01Z', undefined)).toBe(true);
    expect(microTimeValue('2026-01-01T01:00:00.5+01:00')).toBe(
      microTimeValue('2026-01-01T00:00:00.500000Z'),
    );
    expect(microTimeValue('yesterday')).toBeNull();
  });

  test('the identity must be a valid LeaseCandidate name', () => {
    expect(candidateNameProblem('host-1_0b6f.x')).toBeNull();
    expect(candidateNameProblem('a/b')).toContain('letters');
    expect(candidateNameProblem('has space')).toContain('letters');
    expect(candidateNameProblem('..')).toContain('letters');
    expect(candidateNameProblem('x'.repeat(254))).toContain('253');
  });
});

describe('releasedRecord', () => {
  test("client-go's released form: no holder, 1 s, times now, token kept, preference dropped", () => {
    const released = releasedRecord(
      record({ preferredHolder: 'b' }),
      '2026-01-01T00:00:09.000000Z',
    );
    expect(released).toEqual({
      holderIdentity: '',
      leaseDurationMs: 1000,
      acquireTime: '2026-01-01T00:00:09.000000Z',
      renewTime: '2026-01-01T00:00:09.000000Z',
      leaseTransitions: 3,
      strategy: 'OldestEmulationVersion',
    });
  });
});
