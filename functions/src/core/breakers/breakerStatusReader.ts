import { type Clock, systemClock } from '../clock.js';
import type { BreakerSettings } from './breakerState.js';
import { effectiveState, initialRecord } from './breakerState.js';
import type { BreakerStore } from './breakerStore.js';
import type { ProviderStatus } from './sharedBreakerBoard.js';
import { addCounts, figuresOf, windowBucketStarts, zeroCounts } from './slidingWindow.js';

/**
 * The breakers as every instance shares them, read without taking part: unlike a SharedBreakerBoard this
 * never judges a window, opens a breaker or writes anything. The reviewer function's admin view uses it, so
 * that operators see the inference side's breakers from the console's own origin.
 */
export class BreakerStatusReader {
  constructor(
    private readonly deps: {
      store: BreakerStore;
      settings: Readonly<Record<string, BreakerSettings>>;
      clock?: Clock;
    },
  ) {}

  async list(): Promise<ProviderStatus[]> {
    const now = (this.deps.clock ?? systemClock)();
    const providers = Object.keys(this.deps.settings);
    const records = await this.deps.store.loadRecords(providers);
    return Promise.all(
      providers.map(async (name): Promise<ProviderStatus> => {
        const settings = this.deps.settings[name]!;
        const record = records.get(name) ?? initialRecord;
        const state = effectiveState(record, now, settings);
        let figures = record.figures;
        if (state.kind === 'closed') {
          const starts = windowBucketStarts(now, settings);
          const buckets = await this.deps.store.loadBuckets(
            name,
            record.generation,
            starts[0]!,
            starts[starts.length - 1]!,
          );
          const total = zeroCounts();
          for (const counts of buckets.values()) addCounts(total, counts);
          figures = figuresOf(total);
        }
        return {
          name,
          state: state.kind,
          errorRate: Math.round(figures.errorRate * 1e6) / 1e6,
          requests: figures.requests,
          openedAt: state.kind === 'closed' ? null : new Date(state.openedAt).toISOString(),
        };
      }),
    );
  }
}
