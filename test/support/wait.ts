// The polling helpers live with the shipped conformance suite, which uses them too.
export {
  activeResources,
  leakedSince,
  sleep,
  waitFor,
} from '../../src/testing/conformance/wait.js';
