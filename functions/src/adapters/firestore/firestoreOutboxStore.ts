import { type DocumentData, FieldValue, type Firestore } from '@google-cloud/firestore';
import type { OutboxEntry, OutboxStore } from '../../core/review/outbox.js';
import { BoundedStore, collections, type DeadlineOptions, revive } from './firestoreClient.js';

/**
 * `reviewOutbox/{id}`. Undelivered entries have `published: false` (the sweeper's query, index
 * `published, createdAt`); a delivered entry gets `expiresAt`, which the collection's TTL policy uses to
 * delete it a week later. An undelivered entry never expires.
 */

const KEEP_DELIVERED_MS = 7 * 24 * 3_600_000;

export class FirestoreOutboxStore extends BoundedStore implements OutboxStore {
  constructor(db: Firestore, options: DeadlineOptions = {}) {
    super(db, 'review outbox', options);
  }

  async listUndelivered(createdBefore: Date, limit: number): Promise<OutboxEntry[]> {
    const snap = await this.bounded(() =>
      this.db
        .collection(collections.reviewOutbox)
        .where('published', '==', false)
        .where('createdAt', '<=', createdBefore)
        .orderBy('createdAt')
        .limit(limit)
        .get(),
    );
    return snap.docs.map((doc) => outboxEntryFromDocument(doc.id, doc.data()));
  }

  async undeliveredEventsOf(reviewId: string): Promise<OutboxEntry[]> {
    // Equality filters only: served by the single-field indexes, no composite index needed.
    const snap = await this.db
      .collection(collections.reviewOutbox)
      .where('reviewId', '==', reviewId)
      .where('kind', '==', 'review_event')
      .where('published', '==', false)
      .get();
    return snap.docs.map((doc) => outboxEntryFromDocument(doc.id, doc.data()));
  }

  async markDelivered(id: string, at: Date): Promise<void> {
    await this.bounded(() =>
      this.db
        .collection(collections.reviewOutbox)
        .doc(id)
        .update({ published: true, publishedAt: at, expiresAt: new Date(at.getTime() + KEEP_DELIVERED_MS) }),
    );
  }

  async recordFailure(id: string, at: Date, reason: string): Promise<void> {
    await this.bounded(() =>
      this.db
        .collection(collections.reviewOutbox)
        .doc(id)
        .update({ attempts: FieldValue.increment(1), lastFailureAt: at, lastFailure: reason }),
    );
  }
}

/** The document of a new entry; written by whichever store commits the change the entry follows. */
export function outboxDocument(entry: OutboxEntry): DocumentData {
  return {
    ...entry,
    published: false,
    publishedAt: null,
    attempts: 0,
    lastFailureAt: null,
    lastFailure: null,
  };
}

function outboxEntryFromDocument(id: string, data: DocumentData): OutboxEntry {
  const { published, publishedAt, attempts, lastFailureAt, lastFailure, expiresAt, ...entry } =
    revive<Record<string, unknown>>(data);
  return { ...(entry as OutboxEntry), id };
}
