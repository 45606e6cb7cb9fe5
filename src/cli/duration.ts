/**
 * Go-style durations for the timing flags, as the Kubernetes components accept them
 * (`time.ParseDuration`): `15s`, `500ms`, `1.5s`, `1h2m3.5s`; units ns, us (µs, μs), ms, s, m, h.
 * A bare number is rejected (except `0`), and so are negative values: a lease never runs
 * backwards.
 */

const NANOS_PER_UNIT: ReadonlyMap<string, bigint> = new Map([
  ['ns', 1n],
  ['us', 1_000n],
  ['µs', 1_000n], // U+00B5 micro sign
  ['μs', 1_000n], // U+03BC Greek mu
  ['ms', 1_000_000n],
  ['s', 1_000_000_000n],
  ['m', 60_000_000_000n],
  ['h', 3_600_000_000_000n],
]);

/** Go's limit: a duration is an int64 of nanoseconds. */
const MAX_NANOS = 2n ** 63n - 1n;

/** Thrown for a duration that does not parse; the message says why. */
export class DurationSyntaxError extends Error {
  override readonly name = 'DurationSyntaxError';
}

/** One component: digits, an optional fraction, then a unit (letters or µ/μ). */
const COMPONENT = /(\d*)(?:\.(\d*))?([^\d.+-]*)/y;

/**
 * Parses a Go-style duration into milliseconds (fractional below 1 ms).
 * @throws {DurationSyntaxError} naming what is wrong, e.g. a missing unit.
 * @example parseDuration('1h2m3.5s') // 3_723_500
 */
export function parseDuration(text: string): number {
  let rest = text;
  if (rest.startsWith('-')) {
    throw new DurationSyntaxError('negative durations are not allowed');
  }
  if (rest.startsWith('+')) rest = rest.slice(1);
  if (rest === '0') return 0;
  if (rest === '') {
    throw new DurationSyntaxError('empty duration (use e.g. 15s, 500ms, 1m30s)');
  }
  let totalNanos = 0n;
  let position = 0;
  while (position < rest.length) {
    COMPONENT.lastIndex = position;
    const match = COMPONENT.exec(rest);
    if (match === null || match[0] === '') {
      throw new DurationSyntaxError(`unexpected "${rest.slice(position)}"`);
    }
    const [whole, integer = '', fraction, unit = ''] = match;
    if (integer === '' && (fraction === undefined || fraction === '')) {
      throw new DurationSyntaxError(`expected a number before "${whole}"`);
    }
    if (unit === '') {
      throw new DurationSyntaxError(
        `missing unit after "${whole}" (use ns, us, ms, s, m or h, e.g. ${whole}s)`,
      );
    }
    const perUnit = NANOS_PER_UNIT.get(unit);
    if (perUnit === undefined) {
      throw new DurationSyntaxError(`unknown unit "${unit}" (use ns, us, ms, s, m or h)`);
    }
    let nanos = BigInt(integer === '' ? '0' : integer) * perUnit;
    if (fraction !== undefined && fraction !== '') {
      // Truncated to whole nanoseconds, as Go does.
      nanos += (BigInt(fraction) * perUnit) / 10n ** BigInt(fraction.length);
    }
    totalNanos += nanos;
    if (totalNanos > MAX_NANOS) throw new DurationSyntaxError('duration out of range');
    position += whole.length;
  }
  return Number(totalNanos) / 1_000_000;
}

/**
 * Formats milliseconds the way Go prints a `time.Duration`, trimmed for humans:
 * `1.5s`, `400ms`, `2m30s`, `1h0m0s`, `0s`.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 0) return `-${formatDuration(-ms)}`;
  if (ms === 0) return '0s';
  if (ms < 1) return `${trim((ms * 1000).toFixed(3))}µs`;
  if (ms < 1000) return `${trim(ms.toFixed(3))}ms`;
  const totalSeconds = ms / 1000;
  if (totalSeconds < 60) return `${trim(totalSeconds.toFixed(3))}s`;
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds - hours * 3600) / 60);
  const seconds = totalSeconds - hours * 3600 - minutes * 60;
  const secondsText = `${trim(seconds.toFixed(3))}s`;
  return hours > 0 ? `${hours}h${minutes}m${secondsText}` : `${minutes}m${secondsText}`;
}

function trim(fixed: string): string {
  return fixed.includes('.') ? fixed.replace(/\.?0+$/, '') : fixed;
}
