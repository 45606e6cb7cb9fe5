import type { LeaseBackend } from '../backend/lease-backend.js';
import {
  RecordLeaseBackend,
  type RecordLeaseBackendOptions,
} from '../backend/record-lease-backend.js';
import {
  type CoordinatedLeaseBackend,
  CoordinatedRecordBackend,
} from './coordinated-lease-backend.js';
import {
  KubernetesLeaseStore,
  type KubernetesLeaseStoreOptions,
} from './kubernetes-lease-store.js';
import { type CoordinatedOptions, validateCoordinatedOptions } from './lease-candidate.js';
import { validateLeaseName } from './names.js';

export interface KubernetesBackendOptions
  extends KubernetesLeaseStoreOptions,
    RecordLeaseBackendOptions {
  /** Name of the Lease object (a DNS-1123 subdomain), e.g. `my-controller`. */
  readonly name: string;
  /**
   * Coordinated leader election (KEP-4355): the apiserver's controller picks the leader among
   * the candidates by version; this elector keeps a LeaseCandidate named after its identity and
   * never takes the Lease itself. Needs `coordination.k8s.io/v1beta1` and the
   * `CoordinatedLeaderElection` feature gate on the apiserver. See docs/kubernetes.md.
   * @example coordinated: { binaryVersion: '1.34.1', emulationVersion: '1.33.0' }
   */
  readonly coordinated?: CoordinatedOptions;
}

/**
 * A lease backend for one `coordination.k8s.io/v1` Lease: client-go's election algorithm over a
 * {@link KubernetesLeaseStore} of its own, which it closes with the backend. Names are checked
 * here, before any request.
 *
 * @example
 * import { LeaderElector } from 'leader-elect';
 * import { kubernetesBackend, loadKubeconfig } from 'leader-elect/kubernetes';
 *
 * const kubeConfig = await loadKubeconfig(); // $KUBECONFIG, ~/.kube/config, or the pod's account
 * const elector = new LeaderElector({
 *   backend: kubernetesBackend({ kubeConfig, namespace: 'default', name: 'my-controller' }),
 *   onStartedLeading: async (term) => { ... },
 * });
 */
export function kubernetesBackend(
  options: KubernetesBackendOptions & { readonly coordinated: CoordinatedOptions },
): CoordinatedLeaseBackend;
export function kubernetesBackend(options: KubernetesBackendOptions): LeaseBackend;
export function kubernetesBackend(options: KubernetesBackendOptions): LeaseBackend {
  validateLeaseName(options.name);
  const settings =
    options.coordinated === undefined
      ? null
      : validateCoordinatedOptions(options.coordinated, options.name);
  const store = new KubernetesLeaseStore(options);
  if (settings !== null) return new CoordinatedRecordBackend(store, options.name, settings);
  return new OwningRecordLeaseBackend(store, options.name, options);
}

/** A record lease backend that closes its store when it is closed. */
class OwningRecordLeaseBackend extends RecordLeaseBackend {
  constructor(
    private readonly ownStore: KubernetesLeaseStore,
    name: string,
    options: RecordLeaseBackendOptions,
  ) {
    super(
      ownStore,
      name,
      options.onSlowPath === undefined ? {} : { onSlowPath: options.onSlowPath },
    );
  }

  override async close(): Promise<void> {
    await super.close();
    await this.ownStore.close();
  }
}
