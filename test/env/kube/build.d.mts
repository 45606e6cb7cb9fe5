export interface KubeBinaries {
  kubeApiserver?: string;
  clientGoCandidate?: string;
}
export type KubeProgramName = 'kube-apiserver' | 'client-go-candidate';
export const KUBE_PROGRAMS: Record<KubeProgramName, { key: keyof KubeBinaries; pkg: string }>;
export function cacheDir(): string;
export function kubeBinaryPath(name: KubeProgramName): Promise<string>;
export function ensureKubeBinaries(names?: KubeProgramName[]): Promise<KubeBinaries>;
