// Types for the values test/env/global-setup-kube.mjs provides to inject().
import 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    kubeServer: string;
    kubeCaFile: string;
    kubeAuditLog: string;
    kubeAdminKubeconfig: string;
    kubeRestrictedKubeconfig: string;
    kubeRestrictedUser: string;
    kubeAdminToken: string;
    kubeRestrictedToken: string;
    kubeVersion: string;
    clientGoCandidateBinary: string;
    kubeApiserverBinary: string;
    kubeEtcdBinary: string;
  }
}
