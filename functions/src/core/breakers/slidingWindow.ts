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

/** Start times of the buckets in the window at `now`, oldest first. */
export function windowBucketStarts(now: number, settings: Pick<BreakerSettings, 'windowMs' | 'bucketMs'>) {
  const newest = bucketStartOf(now, settings.bucketMs);
  const starts: number[] = [];
  for (let start = newest; start > now - settings.windowMs; start -= settings.bucketMs) starts.unshift(start);
  return starts;
}

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

/** Opens only past the minimum volume, and only when the error rate exceeds the threshold. */
export const shouldOpen = (figures: WindowFigures, settings: BreakerSettings): boolean =>
  figures.requests >= settings.minRequests && figures.errorRate > settings.errorRate;

/**
 * What one call says about the provider: a failure (including a success slower than the slow-call
 * threshold), a success, or nothing at all (a bad request of ours).
 */
export function classifyOutcome(outcome: CallOutcome, slowCallMs: number): 'success' | 'failure' | 'ignored' {
  if (!outcome.ok) return countsAgainstProvider(outcome.failure) ? 'failure' : 'ignored';
  return outcome.latencyMs > slowCallMs ? 'failure' : 'success';
}
