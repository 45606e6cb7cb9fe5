/** Percentile by nearest rank over a sorted copy; p in [0, 100]. */
export function percentile(values, p) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** p50, p99 and max in ms, rounded to µs. Empty input gives nulls (JSON-safe). */
export function summarize(values) {
  if (values.length === 0) return { p50Ms: null, p99Ms: null, maxMs: null };
  return {
    p50Ms: round(percentile(values, 50)),
    p99Ms: round(percentile(values, 99)),
    maxMs: round(Math.max(...values)),
  };
}

export function round(value, digits = 3) {
  if (value === null || value === undefined || Number.isNaN(value)) return null;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
