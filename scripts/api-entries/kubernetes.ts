/**
 * Elections on Kubernetes `coordination.k8s.io/v1` Lease objects (`@kubernetes/client-node` 1.x is an optional peer dependency). Guide: `docs/kubernetes.md`.
 *
 * @module leader-elect/kubernetes
 */
export * from '../../src/kubernetes/index.js';
