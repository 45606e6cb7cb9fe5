/**
 * Handing an etcd election to a named candidate, within etcd's recipe.
 *
 * In the recipe the next leader is the next key in create-revision order, so the candidates
 * queued ahead of the successor must go to the back first: if our key, the successor's and every
 * key in between are still the ones we read, the keys in between are deleted, then ours (see
 * handOver for why in two revisions). Nobody can come ahead of the successor afterwards (new keys get higher
 * revisions), so it leads next, with its own key's create revision as a token higher than ours,
 * proved by its own keepalive. The candidates whose keys were deleted see the deletion through the
 * watch on their own key and campaign again (at the back).
 *
 * Only leader-elect candidates are moved: a key in between without our side key (see
 * candidate-meta.ts) belongs to a foreign client (Go's `concurrency.Election` does not re-check
 * its key after waiting, etcd#19597: deleting it could make it believe it leads), and the
 * transfer is refused, naming it. Keys behind the successor are never touched.
 *
 * The successor confirms by writing its side key with its new term's token. If it does not within
 * the bound, its key is deleted too (it is ours), and the next candidate leads: the election is
 * never held by nobody for longer than that bound. A foreign successor cannot confirm: the
 * transfer then ends when the hand-over transaction commits (its session keeps or loses its key
 * as for any leader).
 */

import type { IKeyValue } from 'etcd3';
import { scopedSignal } from '../abort.js';
import type { Clock, TimerHandle } from '../clock.js';
import { ErrorCode, LeaderElectError } from '../errors.js';
import { decodeMeta, metaKey, metaLease, metaPrefix } from './candidate-meta.js';
import type { ClientResources } from './client-resources.js';
import { type Candidate, createdAt, type ElectionRecipe, prefixRange } from './election-recipe.js';
import type { WatchSink } from './watch-subscription.js';

export interface TransferPlan {
  /** Our key: the leader's. */
  readonly leader: Candidate;
  readonly successor: Candidate;
  /** The successor published a side key: it will confirm. */
  readonly successorOurs: boolean;
  /** Our candidates queued ahead of the successor, to be sent to the back. */
  readonly requeue: readonly Candidate[];
}

function refused(message: string, details: Record<string, unknown>): LeaderElectError {
  return new LeaderElectError(ErrorCode.TransferRefused, message, { details });
}

/**
 * One consistent read of the election: its candidate keys and the leader-elect side keys beside
 * it, in one transaction (one revision), as a transfer plan and the priority lookout need them.
 */
async function readElection(
  resources: ClientResources,
  recipe: ElectionRecipe,
  requestTimeout: number,
  signal: AbortSignal,
): Promise<{ candidates: IKeyValue[]; sideKeys: IKeyValue[] }> {
  const response = await resources.unary(
    (options) =>
      resources.client.kv.txn(
        {
          compare: [],
          success: [
            { request_range: prefixRange(recipe.prefix) },
            { request_range: prefixRange(metaPrefix(recipe.election)) },
          ],
          failure: [],
        },
        options,
      ),
    signal,
    requestTimeout,
  );
  return {
    candidates: response.responses[0]?.response_range?.kvs ?? [],
    sideKeys: response.responses[1]?.response_range?.kvs ?? [],
  };
}

/**
 * Reads the election and our candidates' side keys, and says what the transfer will do; rejects
 * with `LE_TRANSFER_REFUSED` (nothing changed) when it cannot happen.
 */
export async function planTransfer(
  resources: ClientResources,
  recipe: ElectionRecipe,
  token: bigint,
  successor: string,
  requestTimeout: number,
  signal: AbortSignal,
): Promise<TransferPlan> {
  const read = await readElection(resources, recipe, requestTimeout, signal);
  const candidates = recipe.candidates(read.candidates);
  const ours = sideKeys(recipe.election, read.sideKeys);
  const leader = candidates[0];
  if (leader === undefined || leader.createRevision !== token) {
    throw new LeaderElectError(
      ErrorCode.NotLeader,
      `etcd election "${recipe.election}": term ${token} is no longer the leader's key; nothing to hand over`,
    );
  }
  const index = candidates.findIndex((c, i) => i > 0 && c.value === successor);
  if (index < 0) {
    throw refused(
      `etcd election "${recipe.election}": no candidate "${successor}" (no key under ${JSON.stringify(recipe.prefix)} has that value)`,
      { successor, reason: 'unknown-successor' },
    );
  }
  const target = candidates[index] as Candidate;
  const between = candidates.slice(1, index);
  const foreign = between.find((c) => ours.get(c.lease) !== c.value);
  if (foreign !== undefined) {
    throw refused(
      `etcd election "${recipe.election}": "${foreign.value}" (key ${JSON.stringify(foreign.key)}) is queued ahead of "${successor}" and is not known as a leader-elect candidate (no side key; every leader-elect candidate needs etcdBackend({ steering: true })): its key cannot be moved without risking a false leader (etcd-io/etcd#19597)`,
      { successor, foreign: foreign.value, key: foreign.key, reason: 'foreign-candidate-ahead' },
    );
  }
  return {
    leader,
    successor: target,
    successorOurs: ours.get(target.lease) === target.value,
    requeue: between,
  };
}

/** The live leader-elect candidates of the election with their priority (steering only). */
export async function steerableCandidates(
  resources: ClientResources,
  recipe: ElectionRecipe,
  requestTimeout: number,
  signal: AbortSignal,
): Promise<{ identity: string; priority: number }[]> {
  const read = await readElection(resources, recipe, requestTimeout, signal);
  const candidates = recipe.candidates(read.candidates);
  const metas = new Map<bigint, { identity: string; priority: number }>();
  for (const kv of read.sideKeys) {
    const lease = metaLease(recipe.election, kv.key.toString('utf8'));
    const meta = lease === null ? null : decodeMeta(kv.value.toString('utf8'));
    if (lease !== null && meta !== null) metas.set(lease, meta);
  }
  return candidates.flatMap((c) => {
    const meta = metas.get(c.lease);
    return meta !== undefined && meta.identity === c.value
      ? [{ identity: c.value, priority: meta.priority }]
      : [];
  });
}

/** Lease → identity of every side key of ours. */
function sideKeys(election: string, kvs: readonly IKeyValue[]): Map<bigint, string> {
  const found = new Map<bigint, string>();
  for (const kv of kvs) {
    const lease = metaLease(election, kv.key.toString('utf8'));
    const meta = lease === null ? null : decodeMeta(kv.value.toString('utf8'));
    if (lease !== null && meta !== null) found.set(lease, meta.identity);
  }
  return found;
}

/**
 * The hand-over: first the candidates ahead of the successor go to the back (their keys deleted,
 * each guarded by its create revision), then, in a later revision, our key (guarded by ours and
 * the successor's). Two revisions, not one: a follower that waits behind us may lead without
 * reading the election once our key's deletion reaches it (candidacy.ts), which is sound only if
 * it has learnt of its own key's deletion first — and a watch stream orders events by revision,
 * not within one. Resolves with the revision of the hand-over; rejects with
 * `LE_TRANSFER_REFUSED` when a key changed since the plan was made (our key is then untouched).
 */
export async function handOver(
  resources: ClientResources,
  recipe: ElectionRecipe,
  plan: TransferPlan,
  requestTimeout: number,
  signal: AbortSignal,
): Promise<bigint> {
  const guarded = async (
    keep: readonly Candidate[],
    remove: readonly Candidate[],
  ): Promise<bigint | null> => {
    const response = await resources.unary(
      (options) =>
        resources.client.kv.txn(
          {
            compare: keep.map((c) => createdAt(Buffer.from(c.key), c.createRevision)),
            success: remove.map((c) => ({ request_delete_range: { key: Buffer.from(c.key) } })),
            failure: [],
          },
          options,
        ),
      signal,
      requestTimeout,
      'urgent',
    );
    return response.succeeded ? BigInt(response.header.revision) : null;
  };
  const { leader, successor, requeue } = plan;
  const moved = requeue.length === 0 ? 0n : await guarded([leader, ...requeue, successor], requeue);
  const revision = moved === null ? null : await guarded([leader, successor], [leader]);
  if (revision === null) {
    throw refused(
      `etcd election "${recipe.election}": the election changed while the transfer to "${successor.value}" was prepared; we still lead`,
      { successor: successor.value, reason: 'changed' },
    );
  }
  return revision;
}

/**
 * Waits until the successor writes its side key with its term's token (the key's create
 * revision), from `afterRevision` on; false when it did not within `withinMs` or `signal` aborted.
 */
export function awaitSuccessor(
  resources: ClientResources,
  election: string,
  plan: TransferPlan,
  afterRevision: bigint,
  withinMs: number,
  signal: AbortSignal,
): Promise<boolean> {
  const clock: Clock = resources.clock;
  const key = metaKey(election, plan.successor.lease);
  return new Promise<boolean>((resolve) => {
    let settled = false;
    let timer: TimerHandle | null = null;
    const finish = (confirmed: boolean) => {
      if (settled) return;
      settled = true;
      if (timer !== null) clock.clearTimer(timer);
      subscription.close();
      signal.removeEventListener('abort', onAbort);
      resolve(confirmed);
    };
    const onAbort = () => finish(false);
    const sink: WatchSink = {
      event: (type, kv) => {
        if (type !== 'put') return;
        const meta = decodeMeta(kv.value.toString('utf8'));
        if (meta?.term === plan.successor.createRevision) finish(true);
      },
      ready: () => undefined,
      down: () => undefined,
      ended: () => finish(false),
    };
    const subscription = resources.hub.subscribe(
      { key: Buffer.from(key), deletesOnly: false, startRevision: afterRevision + 1n },
      sink,
    );
    timer = clock.setTimer(() => finish(false), withinMs);
    if (signal.aborted) finish(false);
    else signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** The successor did not confirm: delete its key (it is ours), so the next candidate leads. */
export async function passOver(
  resources: ClientResources,
  recipe: ElectionRecipe,
  plan: TransferPlan,
  requestTimeout: number,
): Promise<void> {
  const scope = scopedSignal(undefined, {
    ms: requestTimeout,
    clock: resources.clock,
    reason: () =>
      new LeaderElectError(ErrorCode.BackendTimeout, 'removing the successor timed out'),
  });
  try {
    await recipe.resign(plan.successor.key, plan.successor.createRevision, scope.signal);
  } finally {
    scope.dispose();
  }
}
