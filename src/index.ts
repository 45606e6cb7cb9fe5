// The public API, listed by name: nothing is exported by accident.
export type {
  AttemptRequest,
  BackendContext,
  CandidateInfo,
  ElectionTimings,
  InspectRequest,
  LeaseBackend,
  LeaseHeld,
  LeaseNotHeld,
  LeaseStatus,
  LocalRenewRequest,
  Observation,
  ObserveEvent,
  ObserveListener,
  PrepareTransferRequest,
  ReleaseRequest,
  TransferOutcome,
  TransferRequest,
  TransferRequestByOperator,
  WatchEvent,
  WatchHandle,
  WatchListener,
} from './backend/lease-backend.js';
export { formatMicroTime, parseLeaseRecord } from './backend/lease-record.js';
export {
  RecordLeaseBackend,
  type RecordLeaseBackendOptions,
} from './backend/record-lease-backend.js';
export type {
  LeaseRecord,
  RecordStore,
  RecordWatchEvent,
  StoredRecord,
} from './backend/record-store.js';
export { defaultBackendPolicy } from './backend/resilience.js';
export { type Clock, systemClock, type TimerHandle } from './clock.js';
export {
  jitteredRetry,
  resolveTimings,
  safetyMargin,
  type TimingInput,
  toleratedRateSkew,
} from './elector/decisions.js';
export type {
  ElectorEvents,
  ElectorPhase,
  HealthStatus,
  LeaderInfo,
  Readiness,
  StopReason,
} from './elector/events.js';
export { DEFAULT_HEALTH_TOLERANCE_MS, LeaderElector } from './elector/leader-elector.js';
export {
  DEFAULT_LEASE_DURATION_MS,
  DEFAULT_RENEW_DEADLINE_MS,
  DEFAULT_RETRY_PERIOD_MS,
  JITTER_FACTOR,
  type LeaderElectorOptions,
  type Timings,
} from './elector/options.js';
export { Term } from './elector/term.js';
export type { TransferResult } from './elector/term-handover.js';
export {
  ErrorCode,
  hasErrorCode,
  isLeaderElectError,
  isTransientError,
  LeaderElectError,
  type LeaderElectErrorOptions,
} from './errors.js';
export { MemoryStore } from './memory/memory-store.js';
export type { ElectionMetrics } from './observability/metrics.js';
export {
  type LeaderChange,
  LeaderObserver,
  type LeaderObserverEvents,
  type ObserveLeaderOptions,
  observeLeader,
} from './observer/leader-observer.js';
