import assert from 'node:assert/strict';
import type { BreakerSettings } from '../../functions/src/core/breakers/breakerState.js';
import {
  bucketStartOf,
  classifyOutcome,
  figuresOf,
  shouldOpen,
  windowBucketStarts,
} from '../../functions/src/core/breakers/slidingWindow.js';

const settings: BreakerSettings = {
  windowMs: 60_000,
  bucketMs: 10_000,
  errorRate: 0.05,
  minRequests: 20,
  slowCallMs: 1_000,
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

  it('opens only when the error rate exceeds the threshold, at or above the minimum volume', () => {
    const judge = (requests: number, failures: number) =>
      shouldOpen(figuresOf({ requests, failures }), settings);
    assert.equal(judge(100, 5), false, 'exactly 5% does not exceed 5%');
    assert.equal(judge(100, 6), true, '6% does');
    assert.equal(judge(20, 1), false, '5% at the minimum volume');
    assert.equal(judge(34, 2), true, '5.9% at 34 calls');
    assert.equal(judge(19, 19), false, 'below the minimum volume nothing opens, even at 100%');
    assert.equal(judge(20, 20), true, 'at the minimum volume it does');
    assert.equal(judge(0, 0), false);
    assert.equal(figuresOf({ requests: 0, failures: 0 }).errorRate, 0);
  });

  it('counts slow successes as failures and a bad request of ours as nothing', () => {
    assert.equal(classifyOutcome({ ok: true, latencyMs: 1_000, probe: false }, 1_000), 'success');
    assert.equal(classifyOutcome({ ok: true, latencyMs: 1_001, probe: false }, 1_000), 'failure');
    for (const failure of ['timeout', 'rate_limited', 'server_error', 'malformed', 'auth'] as const) {
      assert.equal(classifyOutcome({ ok: false, latencyMs: 5, probe: false, failure }, 1_000), 'failure');
    }
    assert.equal(
      classifyOutcome({ ok: false, latencyMs: 5, probe: false, failure: 'bad_request' }, 1_000),
      'ignored',
    );
  });
});
