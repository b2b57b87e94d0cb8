import { countsAgainstProvider } from '../providers/provider.js';
import type { CallOutcome } from '../routing/router.js';
import type { BreakerSettings, WindowFigures } from './breakerState.js';

/**
 * The sliding window's arithmetic. Outcomes are counted in fixed time buckets (`bucketMs` long, aligned on
 * the epoch so every instance agrees on the boundaries); the window at `now` is the buckets that started
 * within the last `windowMs`. With six buckets per window the window slides in steps of a sixth of it.
 */

export type Counts = { requests: number; failures: number };

export const BUCKETS_PER_WINDOW = 6;

export const zeroCounts = (): Counts => ({ requests: 0, failures: 0 });

export const bucketStartOf = (t: number, bucketMs: number): number => Math.floor(t / bucketMs) * bucketMs;

/** The start of the oldest bucket still in the window at `now`. Allocation-free: it runs on every call. */
export function oldestBucketStart(now: number, settings: Pick<BreakerSettings, 'windowMs' | 'bucketMs'>) {
  let start = bucketStartOf(now, settings.bucketMs);
  while (start - settings.bucketMs > now - settings.windowMs) start -= settings.bucketMs;
  return start;
}

/** Start times of the buckets in the window at `now`, oldest first. */
export function windowBucketStarts(now: number, settings: Pick<BreakerSettings, 'windowMs' | 'bucketMs'>) {
  const starts: number[] = [];
  const newest = bucketStartOf(now, settings.bucketMs);
  for (let start = oldestBucketStart(now, settings); start <= newest; start += settings.bucketMs) {
    starts.push(start);
  }
  return starts;
}

/** The most buckets a window can span (`bucketMs` is rounded to whole seconds, so it may be more than six). */
export const bucketsPerWindow = (settings: Pick<BreakerSettings, 'windowMs' | 'bucketMs'>): number =>
  Math.ceil(settings.windowMs / settings.bucketMs);

export function addCounts(into: Counts, more: Counts): Counts {
  into.requests += more.requests;
  into.failures += more.failures;
  return into;
}

export function figuresOf(counts: Counts): WindowFigures {
  return {
    requests: counts.requests,
    failures: counts.failures,
    errorRate: counts.requests === 0 ? 0 : counts.failures / counts.requests,
  };
}

/**
 * The trip rule. A breaker opens when all three hold:
 *
 * - the window's error rate is at or above the threshold (exactly 5 % trips a 5 % breaker);
 * - the window holds at least `minFailures` failures, so a provider failing every call is cut off after that
 *   many calls whatever its traffic (at 0.2 requests/s, five failures take 20 s);
 * - the window is at least `minWindowMs` old (`windowAgeMs`: since the last transition or since this
 *   instance started), so that at high traffic a handful of early failures in a fresh window, a sample of a
 *   few dozen calls, cannot trip a healthy provider.
 *
 * There is no minimum volume: a provider under a few requests per second would never reach one.
 * `failures / requests` is compared rather than `failures ≥ rate × requests`: the quotient of two integers is
 * the correctly rounded value of the true ratio, so 7/100 equals 0.07 exactly, where 0.07 × 100 does not.
 */
export const shouldOpen = (counts: Counts, windowAgeMs: number, settings: BreakerSettings): boolean =>
  counts.failures >= settings.minFailures &&
  counts.failures > 0 &&
  windowAgeMs >= settings.minWindowMs &&
  counts.failures / counts.requests >= settings.errorRate;

/**
 * What one call says about the provider: a failure, a success, or nothing at all.
 *
 * - A refusal of this very input (`bad_request`) says nothing about the provider.
 * - A success slower than `slowCallMs` is a failure, unless the input was larger than `largeInputChars`:
 *   then it is a success (it did answer), and a timeout of such an input says nothing.
 */
export function classifyOutcome(
  outcome: CallOutcome,
  settings: Pick<BreakerSettings, 'slowCallMs' | 'largeInputChars'>,
): 'success' | 'failure' | 'ignored' {
  const large = outcome.inputChars > settings.largeInputChars;
  if (!outcome.ok) {
    if (!countsAgainstProvider(outcome.failure)) return 'ignored';
    return outcome.failure === 'timeout' && large ? 'ignored' : 'failure';
  }
  return outcome.latencyMs > settings.slowCallMs && !large ? 'failure' : 'success';
}
