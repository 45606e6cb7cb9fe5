/**
 * The only source of time for lease decisions. Lease time is measured on a monotonic clock
 * (never wall time), so that wall-clock steps (NTP, manual changes) cannot extend or shorten
 * a term. Wall time is used only for the timestamps written into records, which are data.
 */
export interface Clock {
  /** Monotonic milliseconds. Only differences between readings are meaningful. */
  now(): number;
  /** Wall-clock time, used only as data written into lease records. */
  wallNow(): Date;
  /** Calls `callback` after `delayMs` of this clock's time. */
  setTimer(callback: () => void, delayMs: number): TimerHandle;
  clearTimer(handle: TimerHandle): void;
  /**
   * Optional. Restarts a timer this clock created, with the delay it was created with, counted
   * from now: a pending one is moved, one that already fired is armed again (one cleared with
   * `clearTimer` must not be refreshed). Lets a caller that renews on a fixed period re-arm its
   * timer without creating one per period.
   */
  refreshTimer?(handle: TimerHandle): void;
  /**
   * Optional. The timer does not keep the process alive by itself (Node's `timeout.unref()`);
   * for background housekeeping whose owner has timers of its own.
   */
  unrefTimer?(handle: TimerHandle): void;
}

/** Opaque timer handle returned by {@link Clock.setTimer}. */
export type TimerHandle = { readonly __timer: unique symbol } | object;

/**
 * The process clock: `performance.now()` for time, Node timers for callbacks. Delays are rounded
 * up to whole milliseconds, the resolution of Node's timers: a timer never fires before its
 * delay on this clock, and timers of equal delay share one of Node's timer lists (each distinct
 * fractional delay would get a list of its own).
 */
export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => new Date(),
  setTimer: (callback, delayMs) => setTimeout(callback, Math.max(0, Math.ceil(delayMs))),
  clearTimer: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  refreshTimer: (handle) => void (handle as ReturnType<typeof setTimeout>).refresh(),
  unrefTimer: (handle) => void (handle as ReturnType<typeof setTimeout>).unref(),
};
