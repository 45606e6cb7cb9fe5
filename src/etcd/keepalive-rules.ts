/**
 * The etcd backend's timing rules, as pure functions of plain numbers (clock readings in
 * milliseconds, the elector's timings). Safety depends on them: a term is valid until the send
 * time of the keepalive that proved the lease plus `renewDeadline`, so every rule below decides
 * how old that proof may be.
 *
 * Why proofs are reused at all: one etcd lease serves every election of a process, and one
 * acknowledged keepalive proves it for all of them. A renewal that reuses a recent one costs no
 * I/O, so renewal traffic stays about one keepalive per period however many elections there are.
 */
import type { ElectionTimings } from '../backend/lease-backend.js';
import type { Clock } from '../clock.js';

/**
 * Renewals come one retryPeriod apart, a little more with timer delays: a keepalive up to this
 * many retryPeriods old is still "the previous renewal's" (client-go's jitter factor).
 */
export const RENEWAL_JITTER = 1.2;

/**
 * The oldest keepalive a renewal may reuse, by default:
 * `min(1.2 × retryPeriod, (renewDeadline − retryPeriod) / 2)`. The second bound is the one safety
 * needs: a term proved by a keepalive this old still outlives the next renewal, whatever timings
 * the elector accepted (even `renewDeadline` just above `1.2 × retryPeriod`). The first lets a
 * renewal that fires a little more than one retryPeriod after the previous one reuse that one's
 * keepalive: a lone leader sends one keepalive per two renewals.
 */
export function defaultMaxKeepaliveAge(timings: ElectionTimings): number {
  return Math.max(
    0,
    Math.min(
      RENEWAL_JITTER * timings.retryPeriodMs,
      (timings.renewDeadlineMs - timings.retryPeriodMs) / 2,
    ),
  );
}

/**
 * The oldest keepalive a renewal may reuse when `maxKeepaliveAge` was not set: at least
 * {@link defaultMaxKeepaliveAge}, raised to 1.2 background intervals of the session as long as a
 * term proved by a keepalive that old still outlives the next two renewals (jittered). Then a
 * lone leader's renewals ride on the session's own background keepalive (every
 * {@link backgroundInterval}) instead of sending one per two renewals: measured at 15 s / 10 s /
 * 2 s, 0.20 keepalives/s for the leader instead of 0.25-0.27, which is what puts a leader and a
 * follower at Go's 0.40 (issue 15). Safety does not depend on the age (a term ends at the proof's
 * send time + renewDeadline, before the lease can expire); only how much of the term is left
 * after a renewal does: at least `2 × 1.2 × retryPeriod`.
 */
export function renewalProofAge(timings: ElectionTimings, backgroundIntervalMs: number): number {
  const ridesOnBackground = Math.min(
    RENEWAL_JITTER * backgroundIntervalMs,
    timings.renewDeadlineMs - 2 * RENEWAL_JITTER * timings.retryPeriodMs,
  );
  return Math.max(defaultMaxKeepaliveAge(timings), ridesOnBackground);
}

/**
 * How old the proof of a campaign that leads without reading the election may be: enough to
 * leave the term one retryPeriod for its first renewal. (Right after a handoff the etcd leader
 * applies the old leader's writes before it answers a keepalive, which would double the handoff
 * if the new leader had to wait for a fresh one.)
 */
export function shortcutProofAge(timings: ElectionTimings): number {
  return Math.max(0, timings.renewDeadlineMs - timings.retryPeriodMs);
}

/**
 * The oldest keepalive a renewal starting at `startedAt` may reuse: sent after the election's
 * previous attempt began (so each renewal is proved by a keepalive of its own period) and, when
 * a maximum age is set, at most that old.
 */
export function keepaliveNotBefore(
  startedAt: number,
  previousAttemptAt: number | null,
  maxAge: number | undefined,
): number {
  const previous = previousAttemptAt ?? startedAt;
  return maxAge === undefined ? previous : Math.max(previous, startedAt - maxAge);
}

/**
 * A campaign picks its proof when it begins. One that queued behind thousands of others (a
 * process starting its elections at once) can take seconds; leading with that proof would start
 * the term nearly expired. True when the proof is older than the campaign may use, so that the
 * campaign proves the lease again (as recently as a renewal would).
 */
export function proofTooOld(now: number, proofSentAt: number, maxAge: number): boolean {
  return now - proofSentAt > maxAge;
}

/**
 * When a local renewal found the shared keepalive three quarters of the reusable age old, the
 * next one is sent in the background at once: the renewals of the other elections due before it
 * arrives still have a quarter of that age (hundreds of ms with real timings) to find it, and all
 * of them stay local. Returns the "sent at or after" bound for that background keepalive, or null
 * when none is needed (with one election there is nobody to share it with).
 */
export function keepFreshSince(
  now: number,
  proofSentAt: number,
  maxAge: number,
  electionCount: number,
): number | null {
  if (maxAge <= 0 || electionCount <= 1) return null;
  return now - proofSentAt > 0.75 * maxAge ? now - 0.75 * maxAge : null;
}

/**
 * The session sends a keepalive of its own when none was sent for TTL/3 (Go's interval), or for
 * half of `deafAfterMs` if that is shorter, so that a healthy session (with only followers, which
 * do not renew) always hears etcd well within the time after which it would let go of its lease.
 */
export function backgroundInterval(
  ttlSeconds: number,
  deafAfterMs = Number.POSITIVE_INFINITY,
): number {
  return Math.min((ttlSeconds * 1_000) / 3, deafAfterMs / 2);
}

/**
 * How long a keepalive may go unanswered before the stream is reset (so that the next one goes
 * to another member): long enough for a raft election (≥ 1 s), short enough to move away from a
 * stuck member within the lease (≤ TTL / 2), never beyond the request timeout.
 */
export function keepaliveTimeout(ttlSeconds: number, requestTimeout: number): number {
  return Math.max(1_000, Math.min(requestTimeout, (ttlSeconds * 1_000) / 2));
}

/**
 * How long one keepalive attempt waits before its stream is reset and the keepalive is sent on
 * another member: a third of {@link keepaliveTimeout}, which is the whole budget of one
 * keepalive, so that a stuck member costs at most a third of it and two other members can still
 * be tried (≥ 200 ms: a healthy member answers in milliseconds, a loaded one in tens).
 */
export function keepaliveAttemptTimeout(ttlSeconds: number, requestTimeout: number): number {
  return Math.max(200, keepaliveTimeout(ttlSeconds, requestTimeout) / 3);
}

/**
 * How long the session may go without any acknowledgement before it stops keeping the lease
 * alive: the shortest renewDeadline of its elections (a leader's term is over by then anyway),
 * or one TTL (Go's client: its keepalive loop gives up a TTL after the last response) when no
 * election told it. A session whose keepalives reach etcd but whose answers do not (a one-way
 * partition) would otherwise keep its keys alive forever: a follower next in line, deaf to the
 * election, would block it.
 */
export function deafAfter(ttlSeconds: number, renewDeadlines: Iterable<number>): number {
  let shortest = ttlSeconds * 1_000;
  for (const renewDeadline of renewDeadlines) shortest = Math.min(shortest, renewDeadline);
  return shortest;
}

/**
 * A reading of `from` (the session's clock) on the elector's clock `to`. Both are monotonic; when
 * they are the same clock (always, unless a test mixes clocks) the reading is returned as it is.
 * Otherwise the offset is taken now, and the result is never later than the true instant.
 */
export function onClock(to: Clock, from: Clock, reading: number): number {
  if (to === from) return reading;
  return to.now() - Math.max(0, from.now() - reading);
}

/** What the "lead without reading the election" decision looks at (see {@link mayLeadWithoutReading}). */
export interface ShortcutView {
  /** The candidate we waited behind was the only older one, and its deletion was delivered. */
  readonly aheadDeleted: boolean;
  /** The key of ours the wait was recorded for, and the key we campaign with now. */
  readonly waitedAs: string;
  readonly campaignKey: string;
  /** Clock reading of the read that found us next in line, and now. */
  readonly readAt: number;
  readonly now: number;
  /** The watch stream the wait was recorded on, and the current one. */
  readonly waitedOnStream: number;
  readonly currentStream: number;
  /** Every watch we hold was created synced (events in revision order from the start). */
  readonly watchesSynced: boolean;
  /** Our key as we know it: still there, with the session lease generation we campaign with. */
  readonly keyKnown: boolean;
  /** The watch on our own key reports every deletion of it from now on. */
  readonly ownWatchVouches: boolean;
}

/** Beyond etcd's 100 ms watcher sync interval: watches this old deliver in revision order. */
export const SYNCED_WATCH_AGE_MS = 150;

/**
 * Whether a follower whose only predecessor's deletion was just delivered may lead without
 * reading the election again. Keys are only ever created with higher revisions, so none can
 * appear ahead of us; ours still exists at that revision if its watch reported no deletion before
 * it — which holds while every watch has been on one stream since our last read, since such a
 * stream delivers events in revision order. Watches created at a past revision are synced by
 * etcd's sync loop (every 100 ms) and may replay out of order across keys before that, hence the
 * minimum age of the read — unless etcd created every one of them synced. The caller still waits
 * for a keepalive, which proves the lease (and so our key) alive.
 */
export function mayLeadWithoutReading(view: ShortcutView): boolean {
  return (
    view.aheadDeleted &&
    view.waitedAs === view.campaignKey &&
    view.waitedOnStream === view.currentStream &&
    (view.now - view.readAt >= SYNCED_WATCH_AGE_MS || view.watchesSynced) &&
    view.keyKnown &&
    view.ownWatchVouches
  );
}

/** What the watch stream's liveness probe looks at (see {@link watchProbe}). */
export interface WatchProbeView {
  readonly now: number;
  /** Highest store revision seen in any response of the client (the keepalives' included). */
  readonly knownRevision: bigint;
  /** Highest revision a progress answer of this stream vouched for: all events up to it came. */
  readonly confirmedRevision: bigint;
  /** Highest start revision of the stream's live watchers, or null when none is live. */
  readonly neededRevision: bigint | null;
  /** When the stream last delivered anything. */
  readonly lastHeardAt: number;
  /** When the current round of probing sent its progress request, or null. */
  readonly probingSince: number | null;
  /** Silence before a probe, and how long a probe may go without a confirming answer. */
  readonly probeMs: number;
}

export type WatchProbeAction = 'quiet' | 'wait' | 'send' | 'reset';

/**
 * Whether to probe the watch stream with a progress request. A watch can only hide an event if
 * the store moved: so a stream silent for `probeMs` is probed only while some response of the
 * client (a keepalive, which the session sends anyway, or a read) has shown a store revision past
 * the last one the stream's own progress answers vouched for — and past every watcher's start
 * revision, since etcd answers a progress request only then. An idle election costs no probe at
 * all (before: one progress request per probe interval per quiet stream). A stream whose member
 * is stuck, paused or cut off is reset `probeMs` after the probe, and so is one that answers with
 * an older revision than the probe had to confirm (a lagging or partitioned member).
 */
export function watchProbe(view: WatchProbeView): WatchProbeAction {
  const mayHide =
    view.neededRevision !== null &&
    view.knownRevision >= view.neededRevision &&
    view.knownRevision > view.confirmedRevision;
  if (!mayHide) return 'quiet';
  if (view.probingSince !== null) {
    return view.now - view.probingSince >= view.probeMs ? 'reset' : 'wait';
  }
  return view.now - view.lastHeardAt >= view.probeMs ? 'send' : 'wait';
}
