import type { BreakerStore } from '../src/core/breakers/breakerStore.js';

/**
 * A breaker store that reports every document it writes (bucket increments, committed state transitions) and
 * every read, for the tests and the benchmark that count what the breakers cost Firestore.
 */
export type BreakerStoreObserver = {
  onWrite(document: string): void;
  onRead?(kind: 'records' | 'buckets', count: number): void;
};

export function observedBreakerStore(inner: BreakerStore, observer: BreakerStoreObserver): BreakerStore {
  return {
    loadRecords: async (providers) => {
      observer.onRead?.('records', providers.length);
      return inner.loadRecords(providers);
    },
    loadBuckets: async (...args) => {
      observer.onRead?.('buckets', 1);
      return inner.loadBuckets(...args);
    },
    async addCounts(increments) {
      await inner.addCounts(increments);
      for (const i of increments) {
        observer.onWrite(`breakerBuckets/${i.provider}_${i.generation}_${i.bucketStart / 1000}_${i.shard}`);
      }
    },
    async update(provider, decide) {
      let wrote = false;
      const result = await inner.update(provider, (current) => {
        const decision = decide(current);
        // The last run of the callback is the one that committed.
        wrote = decision.write !== null;
        return decision;
      });
      if (wrote) observer.onWrite(`breakers/${provider}`);
      return result;
    },
  };
}
