/**
 * Guarded writes for a term: every operation runs in one etcd transaction that commits only if
 * our candidate key still exists with the create revision the term was won with. That is the
 * fencing the recipe offers (Go compares `CreateRevision(e.leaderKey) == e.leaderRev`): a leader
 * that was paused past its lease, or whose key an operator deleted, cannot write any more,
 * whatever its own clock believes.
 */
import type { IRequestOp, IResponseOp, ITxnRequest, ITxnResponse } from 'etcd3';
import { scopedSignal } from '../abort.js';
import { ErrorCode, LeaderElectError } from '../errors.js';
import type { ClientResources } from './client-resources.js';
import { createdAt } from './election-recipe.js';
import { toEtcdError } from './etcd-errors.js';
import { unary } from './grpc-call.js';
import { prefixRangeEnd } from './keys.js';

/** One operation of a guarded transaction. Keys and values are UTF-8 strings or raw bytes. */
export type EtcdFencedOp =
  | {
      readonly type: 'put';
      readonly key: string | Uint8Array;
      readonly value: string | Uint8Array;
    }
  | {
      readonly type: 'delete';
      readonly key: string | Uint8Array;
      /** Delete every key starting with `key`. @default false */
      readonly prefix?: boolean;
    }
  | {
      readonly type: 'get';
      readonly key: string | Uint8Array;
      /** Read every key starting with `key`. @default false */
      readonly prefix?: boolean;
    };

export interface EtcdKeyValue {
  readonly key: string;
  readonly value: Buffer;
  readonly createRevision: bigint;
  readonly modRevision: bigint;
  readonly version: bigint;
  readonly lease: bigint;
}

export type EtcdFencedOpResult =
  | { readonly type: 'put' }
  | { readonly type: 'delete'; readonly deleted: number }
  | { readonly type: 'get'; readonly kvs: readonly EtcdKeyValue[] };

export interface EtcdFencedResult {
  /** The etcd revision of the committed transaction. */
  readonly revision: bigint;
  /** One result per operation, in order. */
  readonly results: readonly EtcdFencedOpResult[];
}

export interface EtcdFenceCallOptions {
  /** Aborts the call: it rejects with `signal.reason`. */
  readonly signal?: AbortSignal;
}

/**
 * The etcd backend's fence, exposed on the term as `term.fence`.
 *
 * @example
 * onStartedLeading: async (term) => {
 *   // Rejects with LE_NOT_LEADER once our election key is gone or was re-created.
 *   await term.fence.put('/my-service/config', JSON.stringify(config));
 * }
 * @example
 * // The same guard in your own etcd3 transaction:
 * await client.if(term.fence.key, 'Create', '==', term.fence.revision.toString())
 *   .then(client.put('/my-service/config').value('x'))
 *   .commit();
 */
export interface EtcdFence {
  /** Our candidate key, `<election>/<lease ID in hex>`. */
  readonly key: string;
  /** Its create revision: the term's fencing token (equal to `term.token`). */
  readonly revision: bigint;
  /** Puts `key` = `value` if we still lead. */
  put(
    key: string | Uint8Array,
    value: string | Uint8Array,
    options?: EtcdFenceCallOptions,
  ): Promise<EtcdFencedResult>;
  /** Deletes `key` if we still lead. */
  delete(key: string | Uint8Array, options?: EtcdFenceCallOptions): Promise<EtcdFencedResult>;
  /** Runs `ops` atomically if we still lead; rejects with `LE_NOT_LEADER` otherwise. */
  txn(ops: readonly EtcdFencedOp[], options?: EtcdFenceCallOptions): Promise<EtcdFencedResult>;
}

/**
 * How long one attempt of a fenced write may take before it is sent again on another member:
 * half of what is left of its deadline (a stuck member costs at most half), at least 200 ms.
 */
const MIN_ATTEMPT_MS = 200;

export class EtcdTermFence implements EtcdFence {
  readonly key: string;
  readonly revision: bigint;
  readonly #resources: ClientResources;
  readonly #requestTimeout: number;
  /** Clock reading (the client's clock) until which the term is valid; +∞ while unknown. */
  #validUntil = Number.POSITIVE_INFINITY;

  constructor(resources: ClientResources, key: string, revision: bigint, requestTimeout: number) {
    this.key = key;
    this.revision = revision;
    this.#resources = resources;
    this.#requestTimeout = requestTimeout;
  }

  /** @internal The backend: the term is valid until `validUntil` (on the client's clock). */
  holdUntil(validUntil: number): void {
    this.#validUntil = validUntil;
  }

  put(
    key: string | Uint8Array,
    value: string | Uint8Array,
    options?: EtcdFenceCallOptions,
  ): Promise<EtcdFencedResult> {
    return this.txn([{ type: 'put', key, value }], options);
  }

  delete(key: string | Uint8Array, options?: EtcdFenceCallOptions): Promise<EtcdFencedResult> {
    return this.txn([{ type: 'delete', key }], options);
  }

  /**
   * Runs `ops` in one transaction guarded by `CreateRevision(key) == revision`. Bounded by the
   * term's validity (and `requestTimeout`): a member that does not answer in time is left for
   * another; every operation we offer (put, delete, get) has the same effect when applied twice,
   * so sending the transaction again is safe. A timeout (transient `LE_BACKEND_TIMEOUT`) or a
   * failure in flight leaves the outcome unknown: the write may have committed (etcd's own rule
   * for any request whose answer was lost).
   */
  async txn(
    ops: readonly EtcdFencedOp[],
    options: EtcdFenceCallOptions = {},
  ): Promise<EtcdFencedResult> {
    if (!Array.isArray(ops) || ops.length === 0) {
      throw new LeaderElectError(
        ErrorCode.InvalidOption,
        'fence.txn needs a non-empty array of operations',
      );
    }
    const request: ITxnRequest = {
      compare: [createdAt(Buffer.from(this.key), this.revision)],
      success: ops.map(toRequestOp),
    };
    const { clock } = this.#resources;
    const left = this.#validUntil - clock.now();
    if (left <= 0) {
      throw new LeaderElectError(
        ErrorCode.NotLeader,
        `fenced write not sent: the term of election key ${JSON.stringify(this.key)} (revision ${this.revision}) is over`,
        { details: { key: this.key, revision: this.revision.toString() } },
      );
    }
    const budget = Math.min(this.#requestTimeout, left);
    const scope = scopedSignal(options.signal, {
      ms: budget,
      clock,
      reason: () =>
        new LeaderElectError(
          ErrorCode.BackendTimeout,
          `fenced write on ${JSON.stringify(this.key)} did not finish within ${Math.round(budget)} ms (the term's validity or the request timeout); it may or may not have committed`,
          { details: { key: this.key, revision: this.revision.toString(), budgetMs: budget } },
        ),
    });
    let response: ITxnResponse;
    try {
      response = await this.#send(request, budget, scope.signal);
    } catch (error) {
      if (scope.signal.aborted) throw scope.signal.reason;
      throw this.#typed(error, ops);
    } finally {
      scope.dispose();
    }
    if (!response.succeeded) {
      throw new LeaderElectError(
        ErrorCode.NotLeader,
        `fenced write rejected: election key ${JSON.stringify(this.key)} no longer exists with create revision ${this.revision} (the term is over)`,
        { details: { key: this.key, revision: this.revision.toString() } },
      );
    }
    return {
      revision: BigInt(response.header.revision),
      results: response.responses.map((op, index) => toResult(op, ops[index])),
    };
  }

  /** Sends `request`, again on another member after a transient failure, until `signal` aborts. */
  async #send(request: ITxnRequest, budget: number, signal: AbortSignal): Promise<ITxnResponse> {
    const { clock, members, client } = this.#resources;
    const end = clock.now() + budget;
    let avoid: string | null = null;
    for (;;) {
      const left = end - clock.now();
      const attemptMs = left <= 2 * MIN_ATTEMPT_MS ? left : Math.max(MIN_ATTEMPT_MS, left / 2);
      let member: string | null = null;
      try {
        return await unary(
          async (options) => {
            const placed = await members.call<ITxnResponse>(
              'KV',
              'txn',
              request,
              options,
              avoid,
              (chosen) => {
                member = chosen;
              },
            );
            return placed === null ? client.kv.txn(request, options) : placed.value;
          },
          signal,
          // The last attempt's gRPC deadline a little past the budget: the budget's own timeout
          // (a transient LE_BACKEND_TIMEOUT that says the outcome is unknown) is what reports it.
          attemptMs === left ? left + 50 : Math.max(1, attemptMs),
        );
      } catch (error) {
        const typed = this.#typed(error, []);
        if (signal.aborted || !typed.transient || clock.now() >= end) throw error;
        members.suspect(member);
        avoid = member;
      }
    }
  }

  #typed(error: unknown, ops: readonly EtcdFencedOp[]): LeaderElectError {
    const first = ops[0];
    return toEtcdError(error, {
      operation: 'fenced write',
      key: first === undefined ? this.key : toBuffer(first.key).toString(),
      endpoints: this.#resources.endpoints,
    });
  }
}

function toBuffer(value: string | Uint8Array): Buffer {
  return typeof value === 'string' ? Buffer.from(value) : Buffer.from(value);
}

function toRequestOp(op: EtcdFencedOp): IRequestOp {
  const key = toBuffer(op.key);
  switch (op.type) {
    case 'put':
      return { request_put: { key, value: toBuffer(op.value) } };
    case 'delete':
      return {
        request_delete_range: {
          key,
          ...(op.prefix === true ? { range_end: prefixRangeEnd(key) } : {}),
        },
      };
    case 'get':
      return {
        request_range: { key, ...(op.prefix === true ? { range_end: prefixRangeEnd(key) } : {}) },
      };
    default:
      throw new LeaderElectError(
        ErrorCode.InvalidOption,
        `unknown fenced operation ${JSON.stringify((op as { type?: unknown }).type)}`,
      );
  }
}

function toResult(response: IResponseOp, op: EtcdFencedOp | undefined): EtcdFencedOpResult {
  switch (op?.type) {
    case 'delete':
      return { type: 'delete', deleted: Number(response.response_delete_range.deleted) };
    case 'get':
      return {
        type: 'get',
        kvs: response.response_range.kvs.map((kv) => ({
          key: kv.key.toString(),
          value: kv.value,
          createRevision: BigInt(kv.create_revision),
          modRevision: BigInt(kv.mod_revision),
          version: BigInt(kv.version),
          lease: BigInt(kv.lease),
        })),
      };
    default:
      return { type: 'put' };
  }
}
