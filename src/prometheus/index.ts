export { type PrometheusMetricsOptions, prometheusMetrics } from './prometheus-metrics.js';
