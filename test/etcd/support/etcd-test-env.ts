/** Shared settings of the etcd integration tests. */

/**
 * Short timings for real etcd: a 2 s lease is a 2 s TTL (etcd's whole seconds), above the test
 * cluster's minimum TTL; renewDeadline ≥ 2 × retryPeriod so renewals may reuse keepalives.
 */
export const CONFORMANCE_TIMINGS = {
  leaseDuration: 2000,
  renewDeadline: 1500,
  retryPeriod: 400,
} as const;

/**
 * How late etcd may delete the keys of an expired lease: its lessor checks for expired leases
 * every 500 ms, then the revocation goes through raft and the deletion reaches the watchers.
 */
export const ETCD_EXPIRY_SLACK_MS = 700;

let counter = 0;
/** A unique election name per test. */
export function uniqueElection(label: string): string {
  return `le-test/${label}-${process.pid}-${Date.now().toString(36)}-${counter++}`;
}
