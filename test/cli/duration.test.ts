import { describe, expect, test } from 'vitest';
import { DurationSyntaxError, formatDuration, parseDuration } from '../../src/cli/duration.js';

describe('parseDuration (Go time.ParseDuration, non-negative)', () => {
  test.each([
    ['0', 0],
    ['+0', 0],
    ['15s', 15_000],
    ['500ms', 500],
    ['1.5s', 1_500],
    ['.5s', 500],
    ['1.s', 1_000],
    ['1h2m3.5s', 3_723_500],
    ['2m30s', 150_000],
    ['1h', 3_600_000],
    ['100us', 0.1],
    ['100µs', 0.1],
    ['100μs', 0.1],
    ['1500000ns', 1.5],
    ['1.1s', 1_100],
    ['0s', 0],
    ['0.000000001s', 0.000001],
    ['+5s', 5_000],
    ['1m1m', 120_000],
  ])('%s → %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  test.each([
    ['15', /missing unit/],
    ['1', /missing unit/],
    ['1h-', /unexpected "-"/],
    ['-5s', /negative/],
    ['-0', /negative/],
    ['', /empty/],
    ['+', /empty/],
    ['s', /expected a number/],
    ['.s', /expected a number/],
    ['5d', /unknown unit "d"/],
    ['5 s', /unknown unit " s"/],
    ['1s2', /missing unit/],
    ['1.5.5s', /missing unit/],
    ['3000000h', /out of range/],
  ])('rejects %j', (text, message) => {
    expect(() => parseDuration(text)).toThrow(DurationSyntaxError);
    expect(() => parseDuration(text)).toThrow(message);
  });
});

describe('formatDuration', () => {
  test.each([
    [0, '0s'],
    [400, '400ms'],
    [1_500, '1.5s'],
    [15_000, '15s'],
    [150_000, '2m30s'],
    [3_723_500, '1h2m3.5s'],
    [0.5, '500µs'],
    [1.25, '1.25ms'],
  ])('%d ms → %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
    expect(parseDuration(text)).toBeCloseTo(ms, 6);
  });
});
