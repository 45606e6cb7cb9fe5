/**
 * Prometheus metrics of the elector over `prom-client` (an optional peer dependency). Guide: `docs/observability.md`.
 *
 * @module leader-elect/prometheus
 */
export * from '../../src/prometheus/index.js';
