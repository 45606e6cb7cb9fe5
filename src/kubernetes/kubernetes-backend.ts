import type { LeaseBackend } from '../backend/lease-backend.js';
import {
  RecordLeaseBackend,
  type RecordLeaseBackendOptions,
} from '../backend/record-lease-backend.js';
import {
  KubernetesLeaseStore,
  type KubernetesLeaseStoreOptions,
} from './kubernetes-lease-store.js';
import { validateLeaseName } from './names.js';

export interface KubernetesBackendOptions
  extends KubernetesLeaseStoreOptions,
    RecordLeaseBackendOptions {
  /** Name of the Lease object (a DNS-1123 subdomain), e.g. `my-controller`. */
  readonly name: string;
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
export function kubernetesBackend(options: KubernetesBackendOptions): LeaseBackend {
  validateLeaseName(options.name);
  const store = new KubernetesLeaseStore(options);
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
