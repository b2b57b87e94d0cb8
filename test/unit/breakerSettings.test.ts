import assert from 'node:assert/strict';
import {
  type BreakerDefaults,
  breakerSettingsFor,
} from '../../functions/src/core/breakers/breakerSettings.js';
import type { TaskRoute } from '../../functions/src/core/routing/routes.js';

const defaults: BreakerDefaults = {
  windowSeconds: 60,
  errorRate: 0.05,
  minFailures: 5,
  minWindowSeconds: 10,
  slowCallMs: 8_000,
  largeInputChars: 20_000,
  openSeconds: 30,
  halfOpenProbes: 3,
};

const route = (...steps: [provider: string, timeoutMs: number][]): TaskRoute => ({
  chain: steps.map(([provider, timeoutMs]) => ({ provider, model: 'm', timeoutMs })),
  reviewThreshold: 0.8,
  reviewSlaMinutes: 240,
});

describe('breaker settings (derived from the defaults and each provider’s overrides)', () => {
  it('takes the defaults, in milliseconds, for a provider without overrides', () => {
    const { a } = breakerSettingsFor({ providers: { a: {} }, tasks: { t: route(['a', 2_000]) } }, defaults);
    assert.deepEqual(a, {
      windowMs: 60_000,
      bucketMs: 10_000,
      errorRate: 0.05,
      minFailures: 5,
      minWindowMs: 10_000,
      slowCallMs: 8_000,
      largeInputChars: 20_000,
      openMs: 30_000,
      halfOpenProbes: 3,
      probeLeaseMs: 30_000,
    });
  });

  it('lets a provider’s overrides win over the defaults, one setting at a time', () => {
    const { a, b } = breakerSettingsFor(
      { providers: { a: { breaker: { errorRate: 0.5, openSeconds: 5 } }, b: {} }, tasks: {} },
      defaults,
    );
    assert.equal(a?.errorRate, 0.5);
    assert.equal(a?.openMs, 5_000);
    assert.equal(a?.minFailures, 5);
    assert.equal(b?.errorRate, 0.05);
  });

  // windowSeconds -> bucketMs: a sixth of the window, in whole seconds, never below one second.
  for (const [windowSeconds, bucketMs] of [
    [60, 10_000],
    [6, 1_000],
    [7, 1_000],
    [10, 2_000],
    [3_600, 600_000],
  ] as const) {
    it(`cuts a ${windowSeconds} s window into buckets of ${bucketMs} ms`, () => {
      const { a } = breakerSettingsFor(
        { providers: { a: { breaker: { windowSeconds } } }, tasks: {} },
        defaults,
      );
      assert.equal(a?.bucketMs, bucketMs);
    });
  }

  it('leases a probe for the provider’s slowest step plus a margin, never less than the open period', () => {
    const tasks = { one: route(['a', 10_000], ['b', 2_000]), two: route(['a', 40_000]) };
    const { a, b } = breakerSettingsFor({ providers: { a: {}, b: {} }, tasks }, defaults);
    assert.equal(a?.probeLeaseMs, 45_000);
    assert.equal(b?.probeLeaseMs, 30_000);
  });
});
