/**
 * Guarded writes for a term: every operation runs in one etcd transaction that commits only if
 * our candidate key still exists with the create revision the term was won with. That is the
 * fencing the recipe offers (Go compares `CreateRevision(e.leaderKey) == e.leaderRev`): a leader
 * that was paused past its lease, or whose key an operator deleted, cannot write any more,
 * whatever its own clock believes.
 */
import type { Etcd3, IRequestOp, IResponseOp } from 'etcd3';
import { ErrorCode, LeaderElectError } from '../errors.js';
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

export class EtcdTermFence implements EtcdFence {
  readonly key: string;
  readonly revision: bigint;
  readonly #client: Etcd3;
  readonly #requestTimeout: number;
  readonly #endpoints: readonly string[];

  constructor(
    client: Etcd3,
    key: string,
    revision: bigint,
    requestTimeout: number,
    endpoints: readonly string[],
  ) {
    this.key = key;
    this.revision = revision;
    this.#client = client;
    this.#requestTimeout = requestTimeout;
    this.#endpoints = endpoints;
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
    const success = ops.map(toRequestOp);
    const signal = options.signal ?? AbortSignal.timeout(this.#requestTimeout);
    let response: Awaited<ReturnType<Etcd3['kv']['txn']>>;
    try {
      response = await unary(
        (callOptions) =>
          this.#client.kv.txn(
            {
              compare: [
                {
                  key: Buffer.from(this.key),
                  target: 'Create',
                  result: 'Equal',
                  create_revision: this.revision.toString(),
                },
              ],
              success,
            },
            callOptions,
          ),
        signal,
        this.#requestTimeout,
      );
    } catch (error) {
      const first = ops[0];
      throw toEtcdError(error, {
        operation: 'fenced write',
        key: first === undefined ? this.key : toBuffer(first.key).toString(),
        endpoints: this.#endpoints,
      });
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
