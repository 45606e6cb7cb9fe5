/**
 * The operations of etcd's election recipe (Go `concurrency.Election`, `etcdctl elect`), one
 * helper per transaction, so that their compares can be read in one place:
 *
 * - campaign: `if CreateRevision(key) == 0 then put(key, identity, lease)`, and either way read
 *   every key of the election in the same transaction;
 * - read: every key of the election (linearizable), oldest create revision first;
 * - proclaim: `if CreateRevision(key) == rev then put(key, identity, lease)`;
 * - resign: `if CreateRevision(key) == rev then delete(key)`.
 *
 * `CreateRevision(key) == rev` (see {@link createdAt}) is the recipe's guard: it holds exactly
 * while the key we campaigned with still exists, and it is also what fences a leader's writes.
 */
import type { ICompare, IKeyValue, ITxnRequest } from 'etcd3';
import type { LeaderElectError } from '../errors.js';
import type { ClientResources } from './client-resources.js';
import { toEtcdError } from './etcd-errors.js';
import { electionPrefix, parseCandidateKey, prefixRangeEnd } from './keys.js';

/** A live key of the election that follows the layout. */
export interface Candidate {
  readonly key: string;
  readonly value: string;
  readonly createRevision: bigint;
  /** The lease the key is attached to. */
  readonly lease: bigint;
  /** The lease its name claims (the recipe names keys after their lease). */
  readonly namedLease: bigint;
}

/** The election as one read (or the campaign transaction) saw it. */
export interface ElectionView {
  /** The store revision of the read. */
  readonly revision: bigint;
  /** Layout keys, oldest first. */
  readonly candidates: readonly Candidate[];
  /** The campaign transaction created our key (false for a read, or a key that existed). */
  readonly created?: boolean;
}

/** The recipe's guard: `key` exists with this create revision. */
export function createdAt(key: Buffer, revision: bigint): ICompare {
  return { key, target: 'Create', result: 'Equal', create_revision: revision.toString() };
}

/** The range of every key under `prefix`. */
export function prefixRange(prefix: string): { readonly key: Buffer; readonly range_end: Buffer } {
  const key = Buffer.from(prefix);
  return { key, range_end: prefixRangeEnd(key) };
}

export class ElectionRecipe {
  readonly election: string;
  readonly prefix: string;
  readonly #resources: ClientResources;
  readonly #requestTimeout: number;
  readonly #onForeignKey: (key: string) => void;

  constructor(
    resources: ClientResources,
    election: string,
    requestTimeout: number,
    onForeignKey: (key: string) => void,
  ) {
    this.#resources = resources;
    this.election = election;
    this.prefix = electionPrefix(election);
    this.#requestTimeout = requestTimeout;
    this.#onForeignKey = onForeignKey;
  }

  /** Every candidate of the election, oldest first. */
  async read(signal: AbortSignal): Promise<ElectionView> {
    const response = await this.#resources.unary(
      (options) => this.#resources.client.kv.range(prefixRange(this.prefix), options),
      signal,
      this.#requestTimeout,
    );
    return {
      revision: BigInt(response.header.revision),
      candidates: this.candidates(response.kvs),
    };
  }

  /**
   * The campaign transaction: create `key` unless it exists, and read the election (batched with
   * other elections' campaigns on the same lease, see campaign-batcher.ts).
   */
  async campaign(
    key: string,
    identity: string,
    leaseId: bigint,
    signal: AbortSignal,
  ): Promise<ElectionView> {
    const answer = await this.#resources.campaigns.campaign(
      {
        key: Buffer.from(key),
        value: Buffer.from(identity),
        lease: leaseId.toString(),
        prefix: prefixRange(this.prefix),
      },
      signal,
    );
    return {
      revision: answer.revision,
      candidates: this.candidates(answer.kvs),
      created: answer.created,
    };
  }

  /** Writes our identity into our key (it held another value: an earlier identity, same lease). */
  async proclaim(
    key: string,
    createRevision: bigint,
    leaseId: bigint,
    identity: string,
    signal: AbortSignal,
  ): Promise<void> {
    const keyBytes = Buffer.from(key);
    await this.#guarded(keyBytes, createRevision, 'campaign', signal, 'normal', {
      request_put: { key: keyBytes, value: Buffer.from(identity), lease: leaseId.toString() },
    });
  }

  /** Deletes our key if it is still the one created at `createRevision`. */
  async resign(key: string, createRevision: bigint, signal: AbortSignal): Promise<void> {
    const keyBytes = Buffer.from(key);
    await this.#guarded(keyBytes, createRevision, 'resign', signal, 'urgent', {
      request_delete_range: { key: keyBytes },
    });
  }

  /** Puts `key` = `value` (no lease: it outlives the writer). */
  async put(key: string, value: string, signal: AbortSignal): Promise<void> {
    try {
      await this.#resources.unary(
        (options) =>
          this.#resources.client.kv.put(
            { key: Buffer.from(key), value: Buffer.from(value) },
            options,
          ),
        signal,
        this.#requestTimeout,
      );
    } catch (error) {
      throw this.error(error, 'put');
    }
  }

  /** Puts `key` = `value` attached to `leaseId` (our side keys, see candidate-meta.ts). */
  async putOnLease(
    key: string,
    value: string,
    leaseId: bigint,
    signal: AbortSignal,
  ): Promise<void> {
    await this.#resources.unary(
      (options) =>
        this.#resources.client.kv.put(
          { key: Buffer.from(key), value: Buffer.from(value), lease: leaseId.toString() },
          options,
        ),
      signal,
      this.#requestTimeout,
    );
  }

  /** Deletes `key` without a guard (best effort: it goes with its lease at the latest). */
  async deleteQuietly(key: string, signal: AbortSignal): Promise<void> {
    try {
      await this.#resources.unary(
        (options) => this.#resources.client.kv.deleteRange({ key: Buffer.from(key) }, options),
        signal,
        this.#requestTimeout,
      );
    } catch {
      // Best effort.
    }
  }

  /**
   * The create revision of `key` now (null if absent), read in a batch with other elections'
   * (without `signal`: bounded by the request timeout).
   */
  keyRevision(key: string, signal?: AbortSignal): Promise<bigint | null> {
    return this.#resources.keys.createRevision(Buffer.from(key), signal);
  }

  /** The TTL of a lease as the server counts it (etcd reports whole seconds); null if gone. */
  async leaseTtl(
    leaseId: bigint,
    signal: AbortSignal,
  ): Promise<{ readonly remainingMs: number; readonly grantedMs: number } | null> {
    const ttl = await this.#resources.unary(
      (options) =>
        this.#resources.client.leaseClient.leaseTimeToLive({ ID: leaseId.toString() }, options),
      signal,
      this.#requestTimeout,
    );
    const remaining = Number(ttl.TTL);
    return remaining < 0
      ? null
      : { remainingMs: remaining * 1000, grantedMs: Number(ttl.grantedTTL) * 1000 };
  }

  /** Candidate keys that follow the layout, oldest first; the others are reported. */
  candidates(kvs: readonly IKeyValue[]): Candidate[] {
    const candidates: Candidate[] = [];
    for (const kv of kvs) {
      const key = kv.key.toString('utf8');
      const namedLease = parseCandidateKey(this.prefix, key);
      if (namedLease === null) {
        this.#onForeignKey(key);
        continue;
      }
      candidates.push({
        key,
        value: kv.value.toString('utf8'),
        createRevision: BigInt(kv.create_revision),
        lease: BigInt(kv.lease),
        namedLease,
      });
    }
    return candidates.sort((a, b) =>
      a.createRevision < b.createRevision ? -1 : a.createRevision > b.createRevision ? 1 : 0,
    );
  }

  /** A typed error for `operation` on this election. */
  error(error: unknown, operation: string): LeaderElectError {
    return toEtcdError(error, {
      operation: `${operation} in etcd election "${this.election}"`,
      key: this.prefix,
      prefix: true,
      endpoints: this.#resources.endpoints,
    });
  }

  /** One guarded transaction: `if createdAt(key, revision) then op`. */
  async #guarded(
    key: Buffer,
    revision: bigint,
    operation: string,
    signal: AbortSignal,
    lane: 'urgent' | 'normal',
    op: ITxnRequest['success'] extends (infer T)[] | undefined ? T : never,
  ): Promise<void> {
    try {
      await this.#resources.unary(
        (options) =>
          this.#resources.client.kv.txn(
            { compare: [createdAt(key, revision)], success: [op] },
            options,
          ),
        signal,
        this.#requestTimeout,
        lane,
      );
    } catch (error) {
      throw this.error(error, operation);
    }
  }
}
