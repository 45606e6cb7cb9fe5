/**
 * What leader-elect candidates publish about themselves next to etcd's election recipe, so that a
 * leader can steer (transfer, priority) without ever touching a foreign candidate's key.
 *
 * The recipe's prefix `<election>/` holds only candidate keys whose value is the identity — that
 * is what `etcdctl elect` and Go's `concurrency.Election` read, and it stays exactly so. Beside it,
 * under `<election>\u0000leader-elect/`, each of our candidates keeps one key named after the
 * same session lease (`…/<lease ID in hex>`, attached to that lease, so it goes with the
 * candidate): a JSON object with its identity, its priority, and the token of the term it leads
 * (written when it starts leading: the proof of life a transfer waits for). A candidate key with
 * such a key beside it is ours; one without is foreign. A foreign client sees one extra key per
 * candidate outside its prefix, and nothing else.
 */

/** The separator between the election's name and our side prefix: never part of a name. */
const SIDE = '\u0000leader-elect/';

/** Our side prefix of `election`. */
export function metaPrefix(election: string): string {
  return `${election}${SIDE}`;
}

/** The side key of the candidate on session lease `leaseId`. */
export function metaKey(election: string, leaseId: bigint): string {
  return `${metaPrefix(election)}${leaseId.toString(16)}`;
}

/** The side key an operator (`leader-elect transfer`) writes to ask the leader to hand over. */
export function transferRequestKey(election: string): string {
  return `${metaPrefix(election)}transfer-request`;
}

export interface CandidateMeta {
  readonly identity: string;
  readonly priority: number;
  /** The token of the term this candidate leads, once it leads; null while it follows. */
  readonly term: bigint | null;
}

export function encodeMeta(meta: CandidateMeta): string {
  return JSON.stringify({
    v: 1,
    identity: meta.identity,
    priority: meta.priority,
    term: meta.term === null ? null : meta.term.toString(),
  });
}

/** The published metadata, or null for a value we cannot read (treated as foreign). */
export function decodeMeta(value: string): CandidateMeta | null {
  try {
    const parsed = JSON.parse(value) as Record<string, unknown>;
    if (typeof parsed.identity !== 'string') return null;
    const priority =
      typeof parsed.priority === 'number' && Number.isFinite(parsed.priority) ? parsed.priority : 0;
    const term =
      typeof parsed.term === 'string' && /^\d+$/.test(parsed.term) ? BigInt(parsed.term) : null;
    return { identity: parsed.identity, priority, term };
  } catch {
    return null;
  }
}

/** The lease a side key names (`…/<hex>`), or null for another side key. */
export function metaLease(election: string, key: string): bigint | null {
  const prefix = metaPrefix(election);
  if (!key.startsWith(prefix)) return null;
  const hex = key.slice(prefix.length);
  return /^[0-9a-f]{1,16}$/.test(hex) ? BigInt(`0x${hex}`) : null;
}

/** An operator's request to the leader of term `token`: hand over to `to`. */
export interface TransferAsk {
  readonly to: string;
  readonly token: bigint;
}

export function encodeAsk(ask: TransferAsk): string {
  return JSON.stringify({ v: 1, to: ask.to, token: ask.token.toString() });
}

export function decodeAsk(value: string): TransferAsk | null {
  try {
    const parsed = JSON.parse(value) as Record<string, unknown>;
    if (typeof parsed.to !== 'string' || typeof parsed.token !== 'string') return null;
    if (!/^\d+$/.test(parsed.token)) return null;
    return { to: parsed.to, token: BigInt(parsed.token) };
  } catch {
    return null;
  }
}
