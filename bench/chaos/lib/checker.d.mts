export const CONTROL_FAULT: 'skew-beyond-control';

export interface ResourceWrite {
  t: number;
  election: string;
  candidate: string;
  token: string;
  seq: number;
  checkedAt: number | null;
  accepted: boolean;
  max: string | null;
}

export interface HistoryEvent {
  t: number;
  kind: string;
  [field: string]: unknown;
}

export interface FencedPut {
  revision: string;
  token: string;
  seq: number;
  candidate: string;
}

export interface FaultRow {
  applications: number;
  aborted: number;
  transitions: number;
  overlaps: number;
  overlapsConfounded: number;
  staleAccepted: number;
  leaderlessP50Ms: number | null;
  leaderlessP99Ms: number | null;
  leaderlessMaxMs: number | null;
  afterHealMaxMs: number | null;
  afterHealChecked: number;
  afterHealConfounded: number;
  afterHealViolations: number;
  duringChecked: number;
  duringConfounded: number;
  /** Applications where the leader's term ended before its release: the bound does not apply. */
  duringNotApplicable: number;
  /** From the leader's release to the next leader, over the applications checked alone. */
  handoffP50Ms: number | null;
  handoffMaxMs: number | null;
  duringBoundViolations: number;
  notRecovered: number;
}

export interface Overlap {
  election: string;
  oldToken: string;
  oldCandidate: string;
  newToken: string;
  newCandidate: string;
  writes: number;
  accepted: number;
  overlapMs: number;
  fault: string;
  confounded: boolean;
}

export interface CheckResult {
  ok: boolean;
  failures: string[];
  transitions: number;
  faultsApplied: Record<string, number>;
  overlappingTerms: number;
  overlappingTermsWithinModel: number;
  staleWritesAccepted: number;
  staleFencedWritesAccepted: number;
  nonIncreasingTokens: number;
  inFlight: { count: number; accepted: number };
  controlDetected: boolean | null;
  controls: {
    run: number;
    detected: number;
    /** The skewed leader stood down before anyone else led: no overlap to detect. */
    void: number;
    undetected: Array<{ id: string; elections: string[]; target: unknown }>;
  };
  leaderlessP99Ms: number | null;
  faults: Record<string, FaultRow>;
  errorsByCode: Record<string, number>;
  samples: { overlaps: Overlap[]; [name: string]: unknown[] };
  [field: string]: unknown;
}

export function percentile(values: number[], p: number): number | null;
export function check(input: {
  writes: ResourceWrite[];
  events: HistoryEvent[];
  fenced?: Record<string, FencedPut[]>;
  timings: { leaseDuration: number; renewDeadline: number; retryPeriod: number };
  options?: {
    gapMs?: number;
    recoveryBoundMs?: number;
    clusterFaults?: string[];
    endAt?: number;
    duringFaultBoundMs?: (fault: string) => number | null;
    controlRequested?: boolean;
  };
}): CheckResult;
