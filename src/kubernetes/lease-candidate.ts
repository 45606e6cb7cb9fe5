/**
 * The `coordination.k8s.io/v1beta1` LeaseCandidate (KEP-4355) and the options that describe it:
 * validation (the apiserver's rules, checked before any request), the object we create, and the
 * few facts we read from it (the controller's ping, the candidate's spec).
 */
import { formatMicroTime } from '../backend/lease-record.js';
import { ErrorCode, LeaderElectError } from '../errors.js';
import type { LeaseMetadata } from './lease-object.js';
import { compareSemanticVersions, parseSemanticVersion } from './semantic-version.js';

export const LEASE_CANDIDATE_API_VERSION = 'coordination.k8s.io/v1beta1';

/** The built-in strategy of the apiserver's controller: lowest emulation, then binary version, then oldest. */
export const OLDEST_EMULATION_VERSION = 'OldestEmulationVersion';

/** What to do when the apiserver does not serve `coordination.k8s.io/v1beta1` LeaseCandidates. */
export type CoordinatedFallback = 'error' | 'election';

/**
 * Makes the elector a coordinated candidate (Kubernetes Coordinated Leader Election, KEP-4355):
 * it keeps a LeaseCandidate named after its identity, never takes the Lease itself, leads when
 * the apiserver's controller names it holder, and stops renewing when the controller prefers
 * another candidate. See docs/kubernetes.md, "Coordinated leader election".
 *
 * @example
 * kubernetesBackend({
 *   kubeConfig, namespace: 'kube-system', name: 'my-controller',
 *   coordinated: { binaryVersion: '1.34.1', emulationVersion: '1.33.0' },
 * });
 */
export interface CoordinatedOptions {
  /** This binary's version: a semantic version without a leading `v`, e.g. `1.34.1`. */
  readonly binaryVersion: string;
  /**
   * The version whose behaviour this binary emulates (≤ `binaryVersion`); required by the
   * `OldestEmulationVersion` strategy, which elects the candidate with the lowest one.
   */
  readonly emulationVersion?: string;
  /**
   * How the controller picks among candidates: `OldestEmulationVersion` (the only built-in one),
   * or a third-party strategy `example.com/name` (the built-in controller then elects nobody and
   * leaves the Lease to that strategy's controller).
   * @default 'OldestEmulationVersion'
   */
  readonly strategy?: string;
  /**
   * When the apiserver does not serve `coordination.k8s.io/v1beta1`: `'error'` reports
   * `LE_UNSUPPORTED` on every attempt (the elector never leads); `'election'` campaigns with the
   * ordinary algorithm on the same Lease instead, for the life of the backend.
   * @default 'error'
   */
  readonly fallback?: CoordinatedFallback;
  /** Called once when `fallback: 'election'` takes effect, with the reason. */
  readonly onFallback?: (reason: LeaderElectError) => void;
}

/** The validated options: what our LeaseCandidate's spec says. */
export interface CandidateSettings {
  readonly leaseName: string;
  readonly binaryVersion: string;
  /** Empty when not given (allowed only with a third-party strategy). */
  readonly emulationVersion: string;
  readonly strategy: string;
  readonly fallback: CoordinatedFallback;
  readonly onFallback: ((reason: LeaderElectError) => void) | undefined;
}

/** The LeaseCandidate as JSON on the wire (only what we read or write). */
export interface LeaseCandidateObject {
  apiVersion?: string;
  kind?: string;
  metadata: LeaseMetadata;
  spec?: LeaseCandidateSpec;
}

export interface LeaseCandidateSpec {
  leaseName?: string;
  binaryVersion?: string;
  emulationVersion?: string;
  strategy?: string;
  /** MicroTime written by the controller to ask for an acknowledgement. */
  pingTime?: string | null;
  /** MicroTime written by the candidate (the acknowledgement, and its liveness). */
  renewTime?: string | null;
  [key: string]: unknown;
}

const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const CONFIG_MAP_KEY = /^[-._a-zA-Z0-9]+$/;

/**
 * Checks the coordinated options by the apiserver's own rules for a LeaseCandidate, so that a
 * mistake fails at construction (`LE_INVALID_OPTION`, naming the field and the rule) instead of
 * as a 422 on the first campaign.
 */
export function validateCoordinatedOptions(options: unknown, leaseName: string): CandidateSettings {
  const fail = (field: string, problem: string, value: unknown): never => {
    throw new LeaderElectError(
      ErrorCode.InvalidOption,
      `coordinated.${field} ${problem}, got ${JSON.stringify(value)}`,
      { details: { option: `coordinated.${field}`, value } },
    );
  };
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    return fail('', 'must be an object { binaryVersion, emulationVersion, strategy }', options);
  }
  const value = options as Record<string, unknown>;
  const strategy = value.strategy ?? OLDEST_EMULATION_VERSION;
  if (typeof strategy !== 'string') return fail('strategy', 'must be a string', strategy);
  const strategyProblem = coordinatedStrategyProblem(strategy);
  if (strategyProblem !== null) return fail('strategy', strategyProblem, strategy);

  const binaryVersion = value.binaryVersion;
  if (binaryVersion === undefined || binaryVersion === '') {
    return fail('binaryVersion', 'is required (the binary version, e.g. "1.34.1")', binaryVersion);
  }
  if (typeof binaryVersion !== 'string')
    return fail('binaryVersion', 'must be a string', binaryVersion);
  const binary = parseSemanticVersion(binaryVersion);
  if (typeof binary === 'string') return fail('binaryVersion', binary, binaryVersion);

  const emulationVersion = value.emulationVersion ?? '';
  if (typeof emulationVersion !== 'string') {
    return fail('emulationVersion', 'must be a string', emulationVersion);
  }
  if (emulationVersion === '') {
    if (strategy === OLDEST_EMULATION_VERSION) {
      return fail(
        'emulationVersion',
        `is required with strategy ${OLDEST_EMULATION_VERSION} (e.g. "1.33.0", at most binaryVersion)`,
        value.emulationVersion,
      );
    }
  } else {
    const emulation = parseSemanticVersion(emulationVersion);
    if (typeof emulation === 'string') return fail('emulationVersion', emulation, emulationVersion);
    if (strategy === OLDEST_EMULATION_VERSION && isZero(emulation)) {
      return fail(
        'emulationVersion',
        `must not be 0.0.0 with strategy ${OLDEST_EMULATION_VERSION}`,
        emulationVersion,
      );
    }
    if (compareSemanticVersions(emulation, binary) > 0) {
      return fail(
        'emulationVersion',
        `must be at most binaryVersion ${binaryVersion} (a binary emulates an older version, not a newer one)`,
        emulationVersion,
      );
    }
  }

  const fallback = value.fallback ?? 'error';
  if (fallback !== 'error' && fallback !== 'election') {
    return fail('fallback', 'must be "error" or "election"', fallback);
  }
  const onFallback = value.onFallback;
  if (onFallback !== undefined && typeof onFallback !== 'function') {
    return fail('onFallback', 'must be a function', typeof onFallback);
  }
  return {
    leaseName,
    binaryVersion,
    emulationVersion,
    strategy,
    fallback,
    onFallback: onFallback as ((reason: LeaderElectError) => void) | undefined,
  };
}

/**
 * The apiserver's rule for `strategy`: a built-in name (only `OldestEmulationVersion` today) or a
 * qualified name with a prefix (`example.com/my-strategy`) for third-party strategies.
 */
function coordinatedStrategyProblem(strategy: string): string | null {
  if (strategy === OLDEST_EMULATION_VERSION) return null;
  const parts = strategy.split('/');
  if (parts.length === 1) {
    return `is not a built-in strategy (the only one is ${OLDEST_EMULATION_VERSION}; third-party strategies are written "example.com/name")`;
  }
  const [prefix = '', name = ''] = parts;
  if (parts.length !== 2 || prefix.length === 0 || prefix.length > 253) {
    return 'must be a qualified name "prefix/name" (one "/", the prefix a DNS subdomain)';
  }
  if (!DNS1123_SUBDOMAIN.test(prefix)) return 'has a prefix that is not a DNS-1123 subdomain';
  if (name.length === 0 || name.length > 63 || !QUALIFIED_NAME.test(name)) {
    return "has a name that is not 1-63 alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric";
  }
  return null;
}

function isZero(version: { major: number; minor: number; patch: number }): boolean {
  return version.major === 0 && version.minor === 0 && version.patch === 0;
}

/**
 * The candidate's name is the identity the controller writes as the Lease's holder, so the
 * identity must be a valid LeaseCandidate name (the apiserver's rule: a ConfigMap key).
 * Returns why not, or null.
 */
export function candidateNameProblem(identity: string): string | null {
  if (identity.length > 253) return `is ${identity.length} characters long (at most 253)`;
  if (!CONFIG_MAP_KEY.test(identity) || identity === '.' || identity === '..') {
    return "must consist of letters, digits, '-', '_' or '.' (it names the LeaseCandidate)";
  }
  return null;
}

/** The LeaseCandidate we create: our spec, renewed now. */
export function newLeaseCandidate(
  name: string,
  namespace: string,
  settings: CandidateSettings,
  now: Date,
): LeaseCandidateObject {
  return {
    apiVersion: LEASE_CANDIDATE_API_VERSION,
    kind: 'LeaseCandidate',
    metadata: { name, namespace },
    spec: { ...specOf(settings), leaseName: settings.leaseName, renewTime: formatMicroTime(now) },
  };
}

/**
 * `current` renewed now, with our versions and strategy (a candidate restarted with a new binary
 * must say so; client-go's keeps the old spec until its object is collected). The lease name is
 * immutable and kept; the controller's `pingTime` is kept (our `renewTime` answers it).
 */
export function renewedLeaseCandidate(
  current: LeaseCandidateObject,
  settings: CandidateSettings,
  now: Date,
): LeaseCandidateObject {
  return {
    ...current,
    apiVersion: LEASE_CANDIDATE_API_VERSION,
    kind: 'LeaseCandidate',
    spec: { ...current.spec, ...specOf(settings), renewTime: formatMicroTime(now) },
  };
}

function specOf(settings: CandidateSettings): LeaseCandidateSpec {
  return {
    binaryVersion: settings.binaryVersion,
    ...(settings.emulationVersion === '' ? {} : { emulationVersion: settings.emulationVersion }),
    strategy: settings.strategy,
  };
}

/**
 * Whether the controller is waiting for our answer: its `pingTime` is later than our last
 * `renewTime` (client-go's rule). Both are timestamps compared with each other as data, the way
 * the controller compares them; neither is used to measure time here.
 */
export function awaitsAnswer(candidate: LeaseCandidateObject): boolean {
  const ping = microTimeValue(candidate.spec?.pingTime);
  if (ping === null) return false;
  const renew = microTimeValue(candidate.spec?.renewTime);
  return renew === null || ping > renew;
}

/** Whether the object says what our settings say (else it is renewed with our spec). */
export function describesUs(candidate: LeaseCandidateObject, settings: CandidateSettings): boolean {
  const spec = candidate.spec ?? {};
  return (
    spec.binaryVersion === settings.binaryVersion &&
    (spec.emulationVersion ?? '') === settings.emulationVersion &&
    spec.strategy === settings.strategy
  );
}

/** A MicroTime (RFC 3339, up to 9 fractional digits) as microseconds since the epoch. */
export function microTimeValue(text: string | null | undefined): number | null {
  if (typeof text !== 'string') return null;
  const match = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(text);
  if (match === null) return null;
  const [, whole = '', fraction = '', zone = ''] = match;
  const seconds = Date.parse(`${whole}${zone}`);
  if (Number.isNaN(seconds)) return null;
  return seconds * 1000 + Number(fraction.padEnd(6, '0').slice(0, 6));
}
