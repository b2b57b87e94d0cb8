import type { BreakerRecord } from './breakerState.js';
import type { Counts } from './slidingWindow.js';
import type { Decision } from './transitions.js';

/**
 * Where breakers are shared between instances. The rules live in the board and transitions.ts; a store only
 * supplies a few primitives, each a single round trip:
 *
 * - state records, one per provider, changed only through `update` (a transaction around a pure decision);
 * - window counts in time buckets, per provider and generation, added to with increments (never read-then-
 *   write), spread over a few shards so that many instances do not write one document more than about once
 *   a second.
 */

export type BucketIncrement = {
  provider: string;
  generation: number;
  bucketStart: number;
  shard: number;
  counts: Counts;
  /** When the bucket is no longer needed by any window (for a storage TTL policy). */
  expiresAt: number;
};

export interface BreakerStore {
  /** The records of these providers (null: never written, i.e. closed since the beginning). */
  loadRecords(providers: readonly string[]): Promise<Map<string, BreakerRecord | null>>;
  /** Window counts of one provider's generation per bucket start, summed over shards, for buckets in [from, to]. */
  loadBuckets(provider: string, generation: number, from: number, to: number): Promise<Map<number, Counts>>;
  /** Adds counts to bucket documents: one document write per increment, all in one commit. */
  addCounts(increments: readonly BucketIncrement[]): Promise<void>;
  /**
   * Reads the provider's record and stores `decide(record).write` if it is not null, atomically. `decide` is
   * pure and may run more than once.
   */
  update<T>(provider: string, decide: (current: BreakerRecord | null) => Decision<T>): Promise<T>;
}
