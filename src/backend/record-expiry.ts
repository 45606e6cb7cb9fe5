/**
 * The record stores' expiry rule, as a pure function of clock readings (the record backend's
 * shell reads the clocks; unit tests pass plain numbers).
 */

/** What {@link recordExpiresAt} looks at: clock readings in milliseconds. */
export interface RecordExpiryView {
  /** Our monotonic clock reading when we first observed the record's current version. */
  readonly observedAt: number;
  /** The lease duration written in the record. */
  readonly leaseDurationMs: number;
  /** The record's renewTime (the holder's wall clock, ms since the epoch), null if unreadable. */
  readonly renewTimeWallMs: number | null;
  /** Our wall clock and our monotonic clock, read together now. */
  readonly wallNowMs: number;
  readonly now: number;
  /** The elector's maxClockSkew, or null (off). */
  readonly maxClockSkewMs: number | null;
}

/**
 * When another holder's record expires, on our monotonic clock. client-go's rule: a full lease
 * duration after we first observed the record's version (remote times are never trusted, only
 * clock rates matter). With `maxClockSkew`, also when the record's renewTime plus
 * `leaseDuration + maxClockSkew` is reached by our wall clock, whichever comes first: the holder
 * wrote renewTime just before the renewal that started its last `renewDeadline`, and its wall
 * clock is at most `maxClockSkew` ahead of ours, so by then it has stopped leading (the margin
 * `leaseDuration − renewDeadline` covers clock rates as before). A record renewed an hour ago is
 * expired at once.
 */
export function recordExpiresAt(view: RecordExpiryView): number {
  const byObservation = view.observedAt + view.leaseDurationMs;
  if (view.maxClockSkewMs === null || view.renewTimeWallMs === null) return byObservation;
  const byWallClock =
    view.now + (view.renewTimeWallMs + view.leaseDurationMs + view.maxClockSkewMs - view.wallNowMs);
  return Math.min(byObservation, byWallClock);
}
