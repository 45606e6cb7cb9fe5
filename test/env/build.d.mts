export interface EnvBinaries {
  etcd?: string;
  etcdElectionPeer?: string;
  /** null when the optional etcdctl build failed */
  etcdctl?: string | null;
}
export type ProgramName = 'etcd' | 'etcd-election-peer' | 'etcdctl';
export const PROGRAMS: Record<
  ProgramName,
  { key: keyof EnvBinaries; pkg: string; optional: boolean }
>;
export function cacheDir(): string;
export function ensureBinaries(names?: ProgramName[]): Promise<EnvBinaries>;
