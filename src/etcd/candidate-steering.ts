/**
 * The steering side of one candidacy: preparing and carrying out a transfer (transfer.ts),
 * listening for operators' transfer requests while leading, and advertising our priority in the
 * side key (candidate-meta.ts).
 */

import { scopedSignal } from '../abort.js';
import type { WatchEvent } from '../backend/lease-backend.js';
import type { Clock } from '../clock.js';
import { ErrorCode, LeaderElectError } from '../errors.js';
import type { CampaignKey } from './candidate-key.js';
import { decodeAsk, encodeMeta, metaKey, transferRequestKey } from './candidate-meta.js';
import type { ClientResources } from './client-resources.js';
import type { ElectionRecipe } from './election-recipe.js';
import { awaitSuccessor, handOver, passOver, planTransfer, type TransferPlan } from './transfer.js';
import type { WatchSubscription } from './watch-subscription.js';

/** What the steering side needs of its candidacy. */
export interface SteeringOwner {
  /** Token of the term we last reported held and that was not released or lost since. */
  readonly heldToken: bigint | null;
  /** A watch event for the elector. */
  emit(event: WatchEvent): void;
}

export interface SteeringOptions {
  readonly resources: ClientResources;
  readonly recipe: ElectionRecipe;
  readonly requestTimeout: number;
  /** Publish our side key (see candidate-meta.ts) so that leaders can steer. */
  readonly steering: boolean;
  /** A side key could not be written (permission): steering stays off for this candidate. */
  readonly onWarning: (warning: LeaderElectError) => void;
}

export class CandidateSteering {
  readonly #options: SteeringOptions;
  readonly #owner: SteeringOwner;
  #steering: boolean;
  /** Our priority as advertised in the side key (see LeaseBackend.advertise). */
  #priority = 0;
  /** The plan of a transfer prepared and not yet carried out. */
  #transferPlan: TransferPlan | null = null;
  /** The watch on operators' transfer requests (see listenForAsks). */
  #asks: WatchSubscription | null = null;
  /** listenForAsks has scheduled the watch for the next turn (see #soon). */
  #asksSoon = false;
  #closed = false;

  constructor(options: SteeringOptions, owner: SteeringOwner) {
    this.#options = options;
    this.#owner = owner;
    this.#steering = options.steering;
  }

  get #clock(): Clock {
    return this.#options.resources.clock;
  }

  // ---------------------------------------------------------------- transfer

  /** Checks that the term `token` can be handed to `successor` (see transfer.ts). */
  async prepare(token: bigint, successor: string, signal: AbortSignal): Promise<void> {
    const { resources, recipe, requestTimeout } = this.#options;
    this.#transferPlan = await planTransfer(
      resources,
      recipe,
      token,
      successor,
      requestTimeout,
      signal,
    );
  }

  /**
   * Hands the term `token` to `successor`; resolves with its token once it confirmed.
   * `handedOver` runs once our key is gone, before the wait for the successor.
   */
  async transfer(
    token: bigint,
    successor: string,
    confirmWithinMs: number,
    signal: AbortSignal,
    handedOver: () => void,
  ): Promise<bigint> {
    const { resources, recipe, requestTimeout } = this.#options;
    const planned = this.#transferPlan;
    this.#transferPlan = null;
    const plan =
      planned !== null &&
      planned.leader.createRevision === token &&
      planned.successor.value === successor
        ? planned
        : await planTransfer(resources, recipe, token, successor, requestTimeout, signal);
    const revision = await handOver(resources, recipe, plan, requestTimeout, signal);
    handedOver();
    if (!plan.successorOurs) return plan.successor.createRevision;
    const confirmed = await awaitSuccessor(
      resources,
      recipe.election,
      plan,
      revision,
      confirmWithinMs,
      signal,
    );
    if (confirmed) return plan.successor.createRevision;
    await passOver(resources, recipe, plan, requestTimeout).catch(() => undefined);
    throw new LeaderElectError(
      ErrorCode.TransferFailed,
      `etcd election "${recipe.election}": "${successor}" did not confirm the transfer within ${confirmWithinMs} ms; its key was removed, the next candidate leads`,
      { details: { successor } },
    );
  }

  /**
   * While we lead (with steering): an operator's request to hand over (`leader-elect transfer`)
   * arrives as a put of the request key; one for our term is consumed (deleted) and passed to the
   * elector, one for another term is stale and deleted.
   */
  listenForAsks(): void {
    if (!this.#steering || this.#asks !== null || this.#asksSoon) return;
    this.#asksSoon = true;
    this.#soon(() => {
      this.#asksSoon = false;
      if (this.#owner.heldToken !== null && this.#asks === null) this.#watchAsks();
    });
  }

  #watchAsks(): void {
    const { resources, recipe, requestTimeout } = this.#options;
    const key = transferRequestKey(recipe.election);
    this.#asks = resources.hub.subscribe(
      { key: Buffer.from(key), deletesOnly: false, startRevision: 0n, startNow: true },
      {
        event: (type, kv) => {
          if (type !== 'put') return;
          const ask = decodeAsk(kv.value.toString('utf8'));
          const held = this.#owner.heldToken;
          if (held === null) return; // not ours to consume: the next leader judges it
          const scope = scopedSignal(undefined, {
            ms: requestTimeout,
            clock: this.#clock,
            reason: () =>
              new LeaderElectError(ErrorCode.BackendTimeout, 'consuming the request timed out'),
          });
          void recipe.deleteQuietly(key, scope.signal).finally(() => scope.dispose());
          if (ask !== null && ask.token === held)
            this.#owner.emit({ type: 'transfer-requested', to: ask.to });
        },
        ready: () => undefined,
        down: () => undefined,
        ended: () => {
          this.#asks = null;
        },
      },
    );
  }

  /** Stops listening for transfer requests. */
  close(): void {
    this.#closed = true;
    this.#asks?.close();
    this.#asks = null;
  }

  // ---------------------------------------------------------------- side key

  /** Our priority from now on (republished at once if we have a key). */
  advertise(identity: string, priority: number, campaign: CampaignKey | null): void {
    this.#priority = priority;
    if (campaign !== null && !campaign.gone) {
      this.publish(
        campaign,
        identity,
        this.#owner.heldToken === campaign.createRevision ? campaign.createRevision : null,
      );
    }
  }

  /** Writes our side key (best effort, off the critical path; see candidate-meta.ts). */
  publish(campaign: CampaignKey, identity: string, term: bigint | null): void {
    if (!this.#steering) return;
    this.#soon(() => {
      if (this.#steering && !campaign.gone) this.#put(campaign, identity, term);
    });
  }

  /**
   * Runs `step` in the next turn of the event loop (setImmediate: a turn, not a time), unless
   * the candidacy closed meanwhile. The side key's put and the requests' watch are sent when we
   * take or join the line, and sending a gRPC call costs about half a millisecond of this
   * thread: in the same turn they delayed the elector's announcement of a new term by as much
   * (measured: the etcd graceful handoff p50 went from 3.8 to 4.7 ms when the benchmark turned
   * steering on, 200 trials each, bench/results/before-after/bisect.md). Each waits for the
   * elector to have taken its answer; a transfer to us confirms by the put a turn later.
   */
  #soon(step: () => void): void {
    setImmediate(() => {
      if (!this.#closed) step();
    });
  }

  #put(campaign: CampaignKey, identity: string, term: bigint | null): void {
    const { recipe } = this.#options;
    const scope = scopedSignal(undefined, {
      ms: this.#options.requestTimeout,
      clock: this.#clock,
      reason: () =>
        new LeaderElectError(ErrorCode.BackendTimeout, 'publishing the side key timed out'),
    });
    recipe
      .putOnLease(
        metaKey(recipe.election, campaign.leaseId),
        encodeMeta({ identity, priority: this.#priority, term }),
        campaign.leaseId,
        scope.signal,
      )
      .then(
        () => scope.dispose(),
        (error: unknown) => {
          scope.dispose();
          const typed = recipe.error(error, 'publishing the side key');
          if (typed.code !== ErrorCode.PermissionDenied) return;
          this.#steering = false;
          this.#options.onWarning(
            new LeaderElectError(
              ErrorCode.PermissionDenied,
              `etcd election "${recipe.election}": steering is off for this candidate, its side key was refused (${typed.message})`,
              { cause: typed },
            ),
          );
        },
      );
  }
}
