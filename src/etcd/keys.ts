/**
 * The key layout of etcd's election recipe (Go `concurrency.Election`, `etcdctl elect`):
 * every candidate writes `<election>/<lease ID in lowercase hex>` with its identity as the value,
 * attached to its session lease. Sharing this layout is what lets us compete with them.
 */
import { ErrorCode, LeaderElectError } from '../errors.js';

/** A lease ID as Go prints it with `%x`: lowercase hex, at most 16 digits (a positive int64). */
const LEASE_HEX = /^[0-9a-f]{1,16}$/;

/**
 * Checks an election name and returns it. Rejects (LE_INVALID_NAME) what cannot be an election:
 * a non-string, an empty or blank name, or one ending in `/` (the recipe appends `/<lease>`
 * itself, so `a/` would produce keys `a//<lease>` that `etcdctl elect a` never sees).
 */
export function validateElectionName(election: unknown): string {
  if (typeof election !== 'string') {
    throw new LeaderElectError(
      ErrorCode.InvalidName,
      `etcd election name must be a string, got ${election === null ? 'null' : typeof election}`,
      { details: { election } },
    );
  }
  if (election.trim().length === 0) {
    throw new LeaderElectError(
      ErrorCode.InvalidName,
      `etcd election name must not be empty or blank (got ${JSON.stringify(election)}): it is the key prefix that every candidate of the election shares`,
      { details: { election } },
    );
  }
  if (election.endsWith('/')) {
    throw new LeaderElectError(
      ErrorCode.InvalidName,
      `etcd election name must not end with "/" (got ${JSON.stringify(election)}): candidate keys are "<election>/<lease id>", so use ${JSON.stringify(election.replace(/\/+$/, ''))}`,
      { details: { election } },
    );
  }
  return election;
}

/** The prefix every candidate key of `election` starts with. */
export function electionPrefix(election: string): string {
  return `${election}/`;
}

/** Our candidate key for a session lease. */
export function candidateKey(election: string, leaseId: bigint): string {
  return `${electionPrefix(election)}${leaseId.toString(16)}`;
}

/**
 * The lease ID a candidate key names, or `null` when the key under the prefix does not follow
 * the layout (deeper paths, upper case, non-hex...). Such keys take no part in the election.
 */
export function parseCandidateKey(prefix: string, key: string): bigint | null {
  if (!key.startsWith(prefix)) return null;
  const hex = key.slice(prefix.length);
  return LEASE_HEX.test(hex) ? BigInt(`0x${hex}`) : null;
}

/** The exclusive end of the key range holding every key that starts with `prefix`. */
export function prefixRangeEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    const byte = end[i] as number;
    if (byte < 0xff) {
      end[i] = byte + 1;
      return end.subarray(0, i + 1);
    }
  }
  // All 0xff: every key after the prefix (etcd's "\0" convention).
  return Buffer.from([0]);
}
