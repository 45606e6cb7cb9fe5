/**
 * A fake clock for deterministic tests of code that uses the elector. Guide: `docs/testing.md`.
 *
 * @module leader-elect/testing
 */
export * from '../../src/testing/index.js';
