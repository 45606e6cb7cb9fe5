/**
 * The in-process memory store alone (also exported by `leader-elect`).
 *
 * @module leader-elect/memory
 */
export * from '../../src/memory/index.js';
