import { FieldPath, FieldValue, type Firestore, Timestamp } from '@google-cloud/firestore';
import { z } from 'zod';
import {
  type BreakerRecord,
  type BreakerState,
  breakerStateKinds,
} from '../../core/breakers/breakerState.js';
import type { BreakerStore, BucketIncrement } from '../../core/breakers/breakerStore.js';
import type { Counts } from '../../core/breakers/slidingWindow.js';
import type { Decision } from '../../core/breakers/transitions.js';
import { collections, grpcCode, hasCode } from './firestoreClient.js';

/**
 * Lost races before giving up. Every lost race is another caller's successful write, and a breaker takes few
 * of those in a row (a transition, then one per probe permit and probe result), so this is rarely reached.
 */
const MAX_UPDATE_ATTEMPTS = 20;

/**
 * Breakers on Firestore:
 *
 *   breakers/{provider}                                        the shared state; written only by
 *                                                              compare-and-swap (see `update`)
 *   breakerBuckets/{provider}_{generation}_{bucketStartSec}_{shard}
 *                                                              window counts, `FieldValue.increment` only;
 *                                                              `expiresAt` drives a TTL policy
 *
 * Bucket ids sort by provider, generation, then time (seconds zero-padded), so a window is one range query
 * on the document id: no composite index needed.
 *
 * `scope` keeps the breakers of gateway stacks that share one database apart: ids become `{scope}:{provider}`
 * (tests give every stack its own scope; a deployment has one database and needs none).
 */
export class FirestoreBreakerStore implements BreakerStore {
  private readonly prefix: string;

  constructor(
    private readonly db: Firestore,
    options: { scope?: string } = {},
  ) {
    this.prefix = options.scope ? `${options.scope}:` : '';
  }

  async loadRecords(providers: readonly string[]): Promise<Map<string, BreakerRecord | null>> {
    const records = new Map<string, BreakerRecord | null>();
    if (providers.length === 0) return records;
    const snaps = await this.db.getAll(...providers.map((p) => this.stateRef(p)));
    providers.forEach((provider, i) => {
      const snap = snaps[i];
      records.set(provider, snap?.exists ? decodeRecord(snap.data()) : null);
    });
    return records;
  }

  async loadBuckets(
    provider: string,
    generation: number,
    from: number,
    to: number,
  ): Promise<Map<number, Counts>> {
    const snap = await this.db
      .collection(collections.breakerBuckets)
      .where(FieldPath.documentId(), '>=', this.bucketId(provider, generation, from, ''))
      .where(FieldPath.documentId(), '<=', this.bucketId(provider, generation, to, '~'))
      .get();
    const sums = new Map<number, Counts>();
    for (const doc of snap.docs) {
      const bucket = bucketSchema.safeParse(doc.data());
      // Ids of another provider can fall in the range when names share a prefix; the fields decide.
      if (!bucket.success || bucket.data.provider !== provider || bucket.data.generation !== generation)
        continue;
      const start = bucket.data.bucketStart.toMillis();
      const sum = sums.get(start) ?? { requests: 0, failures: 0 };
      sum.requests += bucket.data.requests;
      sum.failures += bucket.data.failures;
      sums.set(start, sum);
    }
    return sums;
  }

  async addCounts(increments: readonly BucketIncrement[]): Promise<void> {
    if (increments.length === 0) return;
    const batch = this.db.batch();
    for (const inc of increments) {
      const ref = this.db
        .collection(collections.breakerBuckets)
        .doc(this.bucketId(inc.provider, inc.generation, inc.bucketStart, String(inc.shard)));
      batch.set(
        ref,
        {
          provider: inc.provider,
          generation: inc.generation,
          bucketStart: Timestamp.fromMillis(inc.bucketStart),
          shard: inc.shard,
          requests: FieldValue.increment(inc.counts.requests),
          failures: FieldValue.increment(inc.counts.failures),
          expiresAt: Timestamp.fromMillis(inc.expiresAt),
        },
        { merge: true },
      );
    }
    await batch.commit();
  }

  /**
   * Read, decide, then write only if the document is still the one read (a create for a new document, an
   * update guarded by its update time otherwise); on a lost race, read again and decide again. This is a
   * compare-and-swap rather than a transaction: server-side transactions lock the document, and the instances
   * that all reach a breaker's half-open moment together would queue behind each other's locks (seconds on
   * the emulator, measured by `npm run bench:breakers`), while a guarded write fails at once and the loser
   * re-decides on fresh data.
   */
  async update<T>(provider: string, decide: (current: BreakerRecord | null) => Decision<T>): Promise<T> {
    const ref = this.stateRef(provider);
    for (let attempt = 1; ; attempt++) {
      const snap = await ref.get();
      const { write, result } = decide(snap.exists ? decodeRecord(snap.data()) : null);
      if (!write) return result;
      try {
        if (snap.exists)
          await ref.update(encodeRecord(provider, write), { lastUpdateTime: snap.updateTime! });
        else await ref.create(encodeRecord(provider, write));
        return result;
      } catch (e) {
        const lostRace =
          hasCode(e, grpcCode.FAILED_PRECONDITION) ||
          hasCode(e, grpcCode.ALREADY_EXISTS) ||
          hasCode(e, grpcCode.NOT_FOUND);
        if (!lostRace || attempt >= MAX_UPDATE_ATTEMPTS) throw e;
      }
    }
  }

  private stateRef(provider: string) {
    return this.db.collection(collections.breakers).doc(`${this.prefix}${provider}`);
  }

  /** Seconds zero-padded to 11 digits, so that ids sort in time order (until the year 5138). */
  private bucketId(provider: string, generation: number, bucketStartMs: number, shard: string): string {
    const seconds = String(Math.floor(bucketStartMs / 1000)).padStart(11, '0');
    return `${this.prefix}${provider}_${generation}_${seconds}_${shard}`;
  }
}

const timestamp = z.instanceof(Timestamp);
const count = z.number().int().nonnegative();

const bucketSchema = z.object({
  provider: z.string(),
  generation: count,
  bucketStart: timestamp,
  requests: count,
  failures: count,
});

const recordSchema = z.object({
  state: z.enum(breakerStateKinds),
  generation: count,
  openedAt: timestamp.nullable(),
  halfOpenedAt: timestamp.nullable(),
  permitsLeft: count.nullable(),
  probeSuccesses: count.nullable(),
  windowRequests: count,
  windowFailures: count,
  errorRate: z.number().min(0).max(1),
  changedAt: timestamp,
});

function encodeRecord(provider: string, record: BreakerRecord) {
  const s = record.state;
  return {
    provider,
    state: s.kind,
    generation: record.generation,
    openedAt: s.kind === 'closed' ? null : Timestamp.fromMillis(s.openedAt),
    halfOpenedAt: s.kind === 'half_open' ? Timestamp.fromMillis(s.halfOpenedAt) : null,
    permitsLeft: s.kind === 'half_open' ? s.permitsLeft : null,
    probeSuccesses: s.kind === 'half_open' ? s.successes : null,
    windowRequests: record.figures.requests,
    windowFailures: record.figures.failures,
    errorRate: record.figures.errorRate,
    changedAt: Timestamp.fromMillis(record.changedAt),
  };
}

/** A document that does not decode is an error (the board then keeps its local view and says so). */
function decodeRecord(data: unknown): BreakerRecord {
  const d = recordSchema.parse(data);
  let state: BreakerState;
  if (d.state === 'closed') state = { kind: 'closed' };
  else if (d.state === 'open' && d.openedAt) state = { kind: 'open', openedAt: d.openedAt.toMillis() };
  else if (d.state === 'half_open' && d.openedAt && d.halfOpenedAt && d.permitsLeft !== null) {
    state = {
      kind: 'half_open',
      openedAt: d.openedAt.toMillis(),
      halfOpenedAt: d.halfOpenedAt.toMillis(),
      permitsLeft: d.permitsLeft,
      successes: d.probeSuccesses ?? 0,
    };
  } else {
    throw new Error(`breaker record in state ${d.state} lacks its times`);
  }
  return {
    state,
    generation: d.generation,
    figures: { requests: d.windowRequests, failures: d.windowFailures, errorRate: d.errorRate },
    changedAt: d.changedAt.toMillis(),
  };
}
