/**
 * The backend conformance suite, for vitest (an optional peer dependency; ESM only). Guides: `docs/backends.md`, `docs/testing.md`.
 *
 * @module leader-elect/testing/conformance
 */
export * from '../../src/testing/conformance/index.js';
