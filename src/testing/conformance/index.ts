// leader-elect/testing/conformance — the backend conformance suite, for vitest. A separate
// entry point from leader-elect/testing so that FakeClock users need no vitest: this is the
// only module of the package that imports it (an optional peer dependency). ESM only, as vitest.
export {
  type ConformanceTarget,
  type ConformanceTimings,
  describeBackendConformance,
} from './backend-conformance.js';
