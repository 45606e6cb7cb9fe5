import {
  DEFAULT_LEASE_DURATION_MS,
  DEFAULT_RENEW_DEADLINE_MS,
  DEFAULT_RETRY_PERIOD_MS,
  hasErrorCode,
  resolveTimings,
  type Timings,
} from '../index.js';
import { formatDuration } from './duration.js';
import { usageError } from './exit-codes.js';
import type { FlagSpec, Flags } from './flags.js';

/** Longest timer Node can set (about 24.8 days); longer timings would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export const TIMING_FLAGS: readonly FlagSpec[] = [
  {
    name: 'lease-duration',
    kind: 'duration',
    value: 'DURATION',
    help: 'how long followers wait after the last renewal they saw before taking over',
    defaultText: formatDuration(DEFAULT_LEASE_DURATION_MS),
  },
  {
    name: 'renew-deadline',
    kind: 'duration',
    value: 'DURATION',
    help: 'how long a leader keeps leading without a successful renewal',
    defaultText: formatDuration(DEFAULT_RENEW_DEADLINE_MS),
  },
  {
    name: 'retry-period',
    kind: 'duration',
    value: 'DURATION',
    help: 'interval between renewals and between polls',
    defaultText: formatDuration(DEFAULT_RETRY_PERIOD_MS),
  },
];

/** The timing flags, validated by the elector's own rules (its LE_INVALID_TIMING message). */
export function timingsFromFlags(flags: Flags): Timings {
  const input: Record<string, number> = {};
  for (const [flag, option] of [
    ['lease-duration', 'leaseDuration'],
    ['renew-deadline', 'renewDeadline'],
    ['retry-period', 'retryPeriod'],
  ] as const) {
    const value = flags.number(flag);
    if (value === undefined) continue;
    if (value > MAX_TIMER_MS) {
      throw usageError(`--${flag} ${formatDuration(value)} is too long: at most 596h31m23s`);
    }
    input[option] = value;
  }
  try {
    return resolveTimings(input);
  } catch (error) {
    if (!hasErrorCode(error, 'LE_INVALID_TIMING')) throw error;
    throw usageError(
      `invalid timings: ${error.message}; change --lease-duration, --renew-deadline or --retry-period`,
    );
  }
}
