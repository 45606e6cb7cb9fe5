export const DEBIAN_ETCD: string;
export const DEBIAN_ETCDCTL: string;
export function ensureDebianEtcd(): Promise<string | null>;
export function etcdVersion(binary: string): Promise<string | null>;
export function debianEtcdctl(): string | null;
