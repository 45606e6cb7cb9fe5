/**
 * The elector, the backend interface, the record-lease adapter, the memory store and the errors. Guides: `docs/guarantees.md`, `docs/backends.md`.
 *
 * @module leader-elect
 */
export * from '../../src/index.js';
