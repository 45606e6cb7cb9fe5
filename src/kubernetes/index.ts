// leader-elect/kubernetes: elections on coordination.k8s.io/v1 Lease objects, compatible with
// client-go's LeaseLock. @kubernetes/client-node is an optional peer dependency: only its
// KubeConfig type is used here; the caller creates and loads the KubeConfig.
export type { CoordinatedLeaseBackend, CoordinatedMode } from './coordinated-lease-backend.js';
export { type KubernetesBackendOptions, kubernetesBackend } from './kubernetes-backend.js';
export {
  DEFAULT_REQUEST_TIMEOUT_MS,
  KubernetesLeaseStore,
  type KubernetesLeaseStoreOptions,
} from './kubernetes-lease-store.js';
export {
  type CoordinatedFallback,
  type CoordinatedOptions,
  OLDEST_EMULATION_VERSION,
} from './lease-candidate.js';
export { toLeaseDurationSeconds } from './lease-object.js';
export { validateLeaseName, validateNamespace } from './names.js';
