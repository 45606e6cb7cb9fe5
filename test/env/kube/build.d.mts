export interface KubeBinaries {
  kubeApiserver?: string;
  clientGoCandidate?: string;
  clientGoLeaseInformer?: string;
}
export type KubeProgramName = 'kube-apiserver' | 'client-go-candidate' | 'client-go-lease-informer';
export const KUBE_PROGRAMS: Record<
  KubeProgramName,
  { key: keyof KubeBinaries; pkg: string; benchOnly?: boolean }
>;
export function cacheDir(): string;
export function kubeBinaryPath(name: KubeProgramName): Promise<string>;
export function ensureKubeBinaries(names?: KubeProgramName[]): Promise<KubeBinaries>;
