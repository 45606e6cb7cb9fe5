import { describe, expect, test } from 'vitest';
import { graceSlack, planGrace } from '../../src/cli/grace.js';

describe('planGrace: the child is dead before the lease can expire for others', () => {
  const defaults = { leaseDuration: 15_000, renewDeadline: 10_000 };

  test('default grace is the cap: leaseDuration − renewDeadline − slack', () => {
    expect(graceSlack(defaults)).toBe(1_500);
    expect(planGrace(undefined, defaults)).toEqual({
      graceMs: 3_500,
      capMs: 3_500,
      slackMs: 1_500,
    });
  });

  test('a grace that fits is kept', () => {
    expect(planGrace(2_000, defaults)).toEqual({ graceMs: 2_000, capMs: 3_500, slackMs: 1_500 });
    expect(planGrace(0, defaults).graceMs).toBe(0);
  });

  test('a grace that does not fit is capped, with a warning that says what to change', () => {
    const plan = planGrace(30_000, defaults);
    expect(plan.graceMs).toBe(3_500);
    expect(plan.warning).toMatch(/^--grace 30s does not fit/);
    expect(plan.warning).toContain('leaves 3.5s');
    expect(plan.warning).toContain('Raise --lease-duration or lower --renew-deadline');
  });

  test('the slack is at least 100 ms', () => {
    const short = { leaseDuration: 600, renewDeadline: 400 };
    expect(graceSlack(short)).toBe(100);
    expect(planGrace(undefined, short).graceMs).toBe(100);
    expect(planGrace(undefined, { leaseDuration: 2_000, renewDeadline: 1_500 }).graceMs).toBe(300);
  });

  test('no room at all: SIGKILL at once, with a warning', () => {
    const plan = planGrace(1_000, { leaseDuration: 10_500, renewDeadline: 10_000 });
    expect(plan.graceMs).toBe(0);
    expect(plan.warning).toMatch(/no time for a grace period/);
  });

  test('property: grace + renewDeadline + slack ≤ leaseDuration whenever grace > 0', () => {
    for (let lease = 2; lease <= 60_000; lease = Math.ceil(lease * 1.37)) {
      for (const share of [0.1, 0.5, 0.67, 0.9, 0.99]) {
        const timings = { leaseDuration: lease, renewDeadline: Math.max(1, lease * share) };
        for (const requested of [undefined, 0, 10, 1_000, 100_000]) {
          const plan = planGrace(requested, timings);
          expect(plan.graceMs).toBeGreaterThanOrEqual(0);
          if (plan.graceMs > 0) {
            expect(plan.graceMs + timings.renewDeadline + plan.slackMs).toBeLessThanOrEqual(
              timings.leaseDuration + 1e-9,
            );
          }
          if (requested !== undefined) expect(plan.graceMs).toBeLessThanOrEqual(requested);
        }
      }
    }
  });
});
