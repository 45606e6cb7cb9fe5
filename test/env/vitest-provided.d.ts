// Types for the values test/env/global-setup-etcd.mjs provides to inject().
import 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    etcdEndpoints: string[];
    etcdBinary: string;
    etcdVersion: string;
    etcdPeerBinary: string;
    etcdctlBinary: string | null;
    debianEtcdBinary: string | null;
  }
}
