/**
 * Elections over etcd with its own election recipe (`etcd3` is an optional peer dependency). Guide: `docs/etcd.md`.
 *
 * @module leader-elect/etcd
 */
export * from '../../src/etcd/index.js';
