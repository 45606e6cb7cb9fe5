/**
 * Batched campaign transactions: the recipe's create-if-absent of many elections of one session
 * lease in one etcd transaction instead of one transaction each.
 *
 * One election's campaign is `if CreateRevision(key) == 0 then put(key, identity, lease),
 * range(prefix) else range(prefix)` (see election-recipe.ts). Campaigns asked for in the same
 * turn of the event loop on the same lease go out together, at most
 * {@link MAX_CAMPAIGNS_PER_TXN} per transaction:
 *
 *     if CreateRevision(key₁) == 0 ∧ … ∧ CreateRevision(keyₙ) == 0
 *     then put(key₁), range(prefix₁), …, put(keyₙ), range(prefixₙ)
 *     else range(prefix₁), …, range(prefixₙ)
 *
 * When every key was absent (the common case: a process starting its elections on a new lease)
 * each campaign gets exactly the answer its own transaction would have given, with the batch's
 * revision as its key's create revision. Otherwise the failure branch shows which keys existed:
 * those campaigns are answered from it (as their own transaction's failure branch would have),
 * and the others are sent again on their own.
 *
 * Why: every gRPC call costs the client tens of kilobytes (call objects, HTTP/2 stream, buffers)
 * that live for its round trip; with 10,000 campaigns at once they were most of what V8 promoted
 * to its old space, and so most of the burst's peak memory (measured, issue 15). etcd also
 * applies one raft entry instead of n.
 *
 * Safety: one batch holds the keys of one lease only, and the recipe names keys after their
 * election and lease, so a batch never holds two candidates of one election (they would share a
 * create revision, and the recipe orders candidates by it). Keys of different elections sharing a
 * revision is harmless: tokens are compared within an election. A batch that etcd refuses for its
 * size (`--max-txn-ops` or the request size set lower than etcd's defaults) is sent again as
 * single transactions, and the batcher sends single transactions from then on (a campaign's own
 * transaction is the recipe's, so nothing but the batching is lost).
 */
import {
  type Etcd3,
  GRPCInvalidArgumentError,
  GRPCResourceExhastedError,
  type IKeyValue,
  type ITxnRequest,
  type ITxnResponse,
} from 'etcd3';
import { onAbort, raceAbort, type ScopedSignal, scopedSignal } from '../abort.js';
import { type Clock, systemClock } from '../clock.js';
import { ErrorCode, LeaderElectError } from '../errors.js';
import type { CallOptions } from './grpc-call.js';
import type { Lane } from './request-gate.js';

/** Two operations each in the success branch: 64, half of etcd's default `--max-txn-ops` (128). */
export const MAX_CAMPAIGNS_PER_TXN = 32;

const RELEASED = () => new Error('the etcd client resources were released');

type Unary = <T>(
  call: (options: CallOptions) => Promise<T>,
  signal: AbortSignal,
  timeoutMs: number,
  lane?: Lane,
) => Promise<T>;

/** What one campaign asks for. */
export interface CampaignRequest {
  /** Our candidate key, `<election>/<lease hex>`. */
  readonly key: Buffer;
  readonly value: Buffer;
  /** The session lease the key is attached to (decimal, as etcd3 takes it). */
  readonly lease: string;
  /** The election's key range. */
  readonly prefix: { readonly key: Buffer; readonly range_end: Buffer };
}

/** What its transaction answered. */
export interface CampaignAnswer {
  /** The store revision of the transaction. */
  readonly revision: bigint;
  /** Every key of the election as the transaction saw it (after our put, if it created it). */
  readonly kvs: readonly IKeyValue[];
  /** The transaction created our key (false: it existed). */
  readonly created: boolean;
}

interface Pending {
  readonly request: CampaignRequest;
  readonly resolve: (answer: CampaignAnswer) => void;
  readonly reject: (error: unknown) => void;
  /** The caller's signal: once every caller of a batch aborted, its transaction is cancelled. */
  readonly signal: AbortSignal;
}

export class CampaignBatcher {
  readonly #client: Etcd3;
  readonly #unary: Unary;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  /**
   * The transactions in flight (close() aborts them). Not a signal they all listen to: Node keeps
   * a removed listener's link to the next one, so listeners added to and removed from one
   * long-lived signal, call after call, keep each other's calls alive through V8's minor GCs —
   * every transaction's objects ended up in the old space (measured, issue 15).
   */
  readonly #inFlight = new Set<ScopedSignal>();
  #closed = false;
  /** Campaigns of this turn of the event loop, by lease. */
  #batches = new Map<string, Pending[]>();
  #scheduled = false;
  /** Lowered to 1 once etcd refused a batch for its size. */
  #maxPerTxn = MAX_CAMPAIGNS_PER_TXN;

  constructor(client: Etcd3, unary: Unary, timeoutMs: number, clock: Clock = systemClock) {
    this.#client = client;
    this.#unary = unary;
    this.#timeoutMs = timeoutMs;
    this.#clock = clock;
  }

  /**
   * The campaign transaction for `request`, sent with the other campaigns of this turn on the
   * same lease. Rejects with `signal.reason` when the signal aborts; the transaction it is part
   * of goes on (bounded by the request timeout), as a sent transaction would.
   */
  campaign(request: CampaignRequest, signal: AbortSignal): Promise<CampaignAnswer> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const answer = new Promise<CampaignAnswer>((resolve, reject) => {
      let batch = this.#batches.get(request.lease);
      if (batch === undefined) {
        batch = [];
        this.#batches.set(request.lease, batch);
      }
      batch.push({ request, resolve, reject, signal });
    });
    if (!this.#scheduled) {
      // The campaigns of this turn of the event loop go out together (a turn, not a time).
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
    return raceAbort(answer, signal);
  }

  /** Fails campaigns still waiting; later ones fail at once. */
  close(): void {
    this.#closed = true;
    const released = RELEASED();
    for (const scope of this.#inFlight) scope.abort(released);
    this.#inFlight.clear();
  }

  #flush(): void {
    this.#scheduled = false;
    const batches = this.#batches;
    this.#batches = new Map();
    for (const batch of batches.values()) {
      for (let i = 0; i < batch.length; i += this.#maxPerTxn) {
        this.#send(batch.slice(i, i + this.#maxPerTxn));
      }
    }
  }

  #send(batch: readonly Pending[]): void {
    if (this.#closed) {
      for (const pending of batch) pending.reject(RELEASED());
      return;
    }
    const scope = scopedSignal(undefined, {
      ms: this.#timeoutMs,
      clock: this.#clock,
      reason: () =>
        new LeaderElectError(
          ErrorCode.BackendTimeout,
          `etcd did not answer a campaign transaction within ${this.#timeoutMs} ms`,
        ),
    });
    this.#inFlight.add(scope);
    // Cancelled (its HTTP/2 stream reset, as a single campaign's own call would be) once every
    // caller has given up: a transaction left to run into its gRPC deadline would count against
    // etcd3's circuit breaker for that member, and shut it out after a fault healed.
    let waiting = batch.length;
    const detach = batch.map((pending) =>
      onAbort(pending.signal, () => {
        if (--waiting === 0) scope.abort(pending.signal.reason);
      }),
    );
    const settled = () => {
      for (const remove of detach) remove();
      scope.dispose();
      this.#inFlight.delete(scope);
    };
    const txn = campaignTxn(batch);
    this.#unary((options) => this.#client.kv.txn(txn, options), scope.signal, this.#timeoutMs).then(
      (response) => {
        settled();
        this.#answer(batch, response);
      },
      (error: unknown) => {
        settled();
        if (batch.length > 1 && refusedAsBatch(error)) {
          this.#maxPerTxn = 1;
          for (const pending of batch) this.#send([pending]);
          return;
        }
        for (const pending of batch) pending.reject(error);
      },
    );
  }

  #answer(batch: readonly Pending[], response: ITxnResponse): void {
    const revision = BigInt(response.header.revision);
    const n = batch.length;
    batch.forEach((pending, i) => {
      if (response.succeeded) {
        const kvs = response.responses[n + i]?.response_range?.kvs ?? [];
        pending.resolve({ revision, kvs, created: true });
        return;
      }
      const kvs = response.responses[i]?.response_range?.kvs ?? [];
      if (n === 1 || kvs.some((kv) => kv.key.equals(pending.request.key))) {
        pending.resolve({ revision, kvs, created: false });
      } else {
        // Another key of the batch existed, not ours: ours was not created. On its own now.
        this.#send([pending]);
      }
    });
  }
}

/** The transaction of one batch (see the module comment); a batch of one is the recipe's own. */
function campaignTxn(batch: readonly Pending[]): ITxnRequest {
  return {
    compare: batch.map(({ request }) => ({
      key: request.key,
      target: 'Create' as const,
      result: 'Equal' as const,
      create_revision: '0',
    })),
    success: [
      ...batch.map(({ request }) => ({
        request_put: { key: request.key, value: request.value, lease: request.lease },
      })),
      ...batch.map(({ request }) => ({ request_range: request.prefix })),
    ],
    failure: batch.map(({ request }) => ({ request_range: request.prefix })),
  };
}

/**
 * etcd refused the transaction as a whole: too many operations (`--max-txn-ops`), too large, or
 * one key twice (two campaigns of one key in one turn); each campaign alone would be accepted.
 */
function refusedAsBatch(error: unknown): boolean {
  return error instanceof GRPCInvalidArgumentError || error instanceof GRPCResourceExhastedError;
}
