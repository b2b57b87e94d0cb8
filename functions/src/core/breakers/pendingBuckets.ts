import type { BreakerSettings } from './breakerState.js';
import { bucketStartOf, bucketsPerWindow, type Counts } from './slidingWindow.js';

/** Counts of one time bucket that this instance has not yet written to the shared store. */
export type PendingBucket = { bucketStart: number; counts: Counts };

type Slot = {
  start: number;
  requests: number;
  failures: number;
  /** Counts taken by a write that has not settled yet: still this instance's to count. */
  flushingRequests: number;
  flushingFailures: number;
};

/**
 * One instance's outcomes not yet in the shared window, kept per time bucket in a ring one slot longer than
 * the window, so that they age out with the window exactly as shared counts do: a slot reused for a newer
 * bucket held counts that had already left the window. Recording is O(1) and allocates nothing (it runs on
 * every provider call); only taking counts for a write allocates, once per flush.
 */
export class PendingBuckets {
  private readonly slots: Slot[];

  constructor(private readonly settings: Pick<BreakerSettings, 'windowMs' | 'bucketMs'>) {
    this.slots = Array.from({ length: bucketsPerWindow(settings) + 1 }, () => ({
      start: Number.NEGATIVE_INFINITY,
      requests: 0,
      failures: 0,
      flushingRequests: 0,
      flushingFailures: 0,
    }));
  }

  record(now: number, failed: boolean): void {
    const start = bucketStartOf(now, this.settings.bucketMs);
    const slot = this.slotOf(start);
    if (slot.start !== start) reset(slot, start);
    slot.requests += 1;
    if (failed) slot.failures += 1;
  }

  /** Adds the counts of buckets that start at or after `oldest` (pending and being written) to `into`. */
  addInto(into: Counts, oldest: number): void {
    for (const slot of this.slots) {
      if (slot.start < oldest) continue;
      into.requests += slot.requests + slot.flushingRequests;
      into.failures += slot.failures + slot.flushingFailures;
    }
  }

  /**
   * Moves the pending counts of the buckets still in the window (starting at or after `oldest`) to "being
   * written" and returns them; older counts are dropped, they no longer count anywhere.
   */
  take(oldest: number): PendingBucket[] {
    const taken: PendingBucket[] = [];
    for (const slot of this.slots) {
      if (slot.requests === 0) continue;
      if (slot.start < oldest) {
        slot.requests = 0;
        slot.failures = 0;
        continue;
      }
      taken.push({ bucketStart: slot.start, counts: { requests: slot.requests, failures: slot.failures } });
      slot.flushingRequests += slot.requests;
      slot.flushingFailures += slot.failures;
      slot.requests = 0;
      slot.failures = 0;
    }
    return taken;
  }

  /**
   * A write of `taken` settled: written, its counts are the store's now; failed, they are pending again
   * (for the buckets still held: one that has since left the window is gone).
   */
  settle(taken: readonly PendingBucket[], written: boolean): void {
    for (const { bucketStart, counts } of taken) {
      const slot = this.slotOf(bucketStart);
      if (slot.start !== bucketStart) continue;
      slot.flushingRequests -= counts.requests;
      slot.flushingFailures -= counts.failures;
      if (!written) {
        slot.requests += counts.requests;
        slot.failures += counts.failures;
      }
    }
  }

  clear(): void {
    for (const slot of this.slots) reset(slot, Number.NEGATIVE_INFINITY);
  }

  private slotOf(bucketStart: number): Slot {
    const index = Math.floor(bucketStart / this.settings.bucketMs) % this.slots.length;
    return this.slots[index < 0 ? index + this.slots.length : index]!;
  }
}

function reset(slot: Slot, start: number): void {
  slot.start = start;
  slot.requests = 0;
  slot.failures = 0;
  slot.flushingRequests = 0;
  slot.flushingFailures = 0;
}
