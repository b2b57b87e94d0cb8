import assert from 'node:assert/strict';
import type { BreakerSettings } from '../../functions/src/core/breakers/breakerState.js';
import {
  bucketStartOf,
  classifyOutcome,
  figuresOf,
  shouldOpen,
  windowBucketStarts,
} from '../../functions/src/core/breakers/slidingWindow.js';
import { failureKinds } from '../../functions/src/core/providers/provider.js';

const settings: BreakerSettings = {
  windowMs: 60_000,
  bucketMs: 10_000,
  errorRate: 0.05,
  minFailures: 5,
  minWindowMs: 10_000,
  slowCallMs: 1_000,
  largeInputChars: 20_000,
  openMs: 30_000,
  halfOpenProbes: 3,
  probeLeaseMs: 30_000,
};

describe('breaker sliding window', () => {
  it('aligns buckets on the epoch, so every instance agrees on the boundaries', () => {
    assert.equal(bucketStartOf(1_700_000_009_999, 10_000), 1_700_000_000_000);
    assert.equal(bucketStartOf(1_700_000_010_000, 10_000), 1_700_000_010_000);
  });

  it('covers the buckets that started within the window: six, oldest first', () => {
    const now = 1_700_000_065_000;
    assert.deepEqual(
      windowBucketStarts(now, settings),
      [
        1_700_000_010_000, 1_700_000_020_000, 1_700_000_030_000, 1_700_000_040_000, 1_700_000_050_000,
        1_700_000_060_000,
      ],
    );
    // On a boundary the bucket that started a full window ago has left it.
    const boundary = 1_700_000_060_000;
    assert.equal(windowBucketStarts(boundary, settings)[0], 1_700_000_010_000);
    assert.equal(windowBucketStarts(boundary, settings).length, 6);
  });

  it('opens at or above the error rate, on enough failures, in a window old enough', () => {
    const old = settings.minWindowMs;
    const judge = (requests: number, failures: number, ageMs = old) =>
      shouldOpen({ requests, failures }, ageMs, settings);
    assert.equal(judge(100, 5), true, 'exactly 5% trips a 5% breaker');
    assert.equal(judge(101, 5), false, 'just under 5% does not');
    assert.equal(judge(60, 3), false, '5% but fewer than the minimum failures');
    assert.equal(
      judge(5, 5),
      true,
      'a provider failing every call trips on its fifth failure, whatever the traffic',
    );
    assert.equal(judge(4, 4), false);
    assert.equal(judge(100, 5, old - 1), false, 'not in a window younger than the minimum age');
    assert.equal(judge(0, 0), false);
    // 7/100 is the double closest to 0.07, where 0.07 × 100 is not 7.
    assert.equal(shouldOpen({ requests: 100, failures: 7 }, old, { ...settings, errorRate: 0.07 }), true);
    assert.equal(figuresOf({ requests: 0, failures: 0 }).errorRate, 0);
  });

  it('counts slow successes as failures and a refusal of this input as nothing', () => {
    const call = { latencyMs: 5, probe: false, inputChars: 2_000 };
    assert.equal(classifyOutcome({ ...call, ok: true, latencyMs: 1_000 }, settings), 'success');
    assert.equal(classifyOutcome({ ...call, ok: true, latencyMs: 1_001 }, settings), 'failure');
    for (const failure of failureKinds.filter((k) => k !== 'bad_request')) {
      assert.equal(classifyOutcome({ ...call, ok: false, failure }, settings), 'failure', failure);
    }
    assert.equal(classifyOutcome({ ...call, ok: false, failure: 'bad_request' }, settings), 'ignored');
  });

  it('does not hold the slowness of a huge input against the provider, only its other failures', () => {
    const huge = { latencyMs: 5, probe: false, inputChars: settings.largeInputChars + 1 };
    assert.equal(classifyOutcome({ ...huge, ok: true, latencyMs: 60_000 }, settings), 'success');
    assert.equal(classifyOutcome({ ...huge, ok: false, failure: 'timeout' }, settings), 'ignored');
    assert.equal(classifyOutcome({ ...huge, ok: false, failure: 'server_error' }, settings), 'failure');
    const atLimit = { ...huge, inputChars: settings.largeInputChars };
    assert.equal(classifyOutcome({ ...atLimit, ok: true, latencyMs: 60_000 }, settings), 'failure');
    assert.equal(classifyOutcome({ ...atLimit, ok: false, failure: 'timeout' }, settings), 'failure');
  });
});
