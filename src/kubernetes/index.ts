// leader-elect/kubernetes: elections on coordination.k8s.io/v1 Lease objects, compatible with
// client-go's LeaseLock. The configuration comes from loadKubeconfig (kubeconfig files, the pod's
// service account) or from a client-node KubeConfig the caller loads; @kubernetes/client-node is
// an optional peer dependency, imported only for exec/auth-provider plugins and proxies.

export type { CoordinatedLeaseBackend, CoordinatedMode } from './coordinated-lease-backend.js';
export {
  type KubeClientConfig,
  type KubeCluster,
  type Kubeconfig,
  type LoadKubeconfigOptions,
  loadKubeconfig,
} from './kubeconfig.js';
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
