import { type DocumentData, FieldPath, type Firestore } from '@google-cloud/firestore';
import type { ReviewItem } from '../../core/review/reviewItem.js';
import type {
  ReviewChange,
  ReviewListQuery,
  ReviewSnapshot,
  ReviewStore,
} from '../../core/review/reviewStore.js';
import { BoundedStore, collections, type DeadlineOptions, revive } from './firestoreClient.js';
import {
  fromDocument as inferenceFromDocument,
  toDocument as inferenceToDocument,
} from './firestoreInferenceStore.js';
import { outboxDocument } from './firestoreOutboxStore.js';
import { createPendingCopy } from './firestorePendingAuditStore.js';

/**
 * `reviews/{reviewId}` in Firestore. The queue query (tenant, state, oldest first) uses the composite index
 * `tenant, state, createdAt`. Outputs are stored as JSON text, as with inferences: their shape is the
 * model's or the reviewer's, and Firestore cannot hold every JSON value. Every call has a deadline of its
 * own; a transaction that commits after it is resolved by the audited commit's read-back.
 */
export class FirestoreReviewStore extends BoundedStore implements ReviewStore {
  constructor(db: Firestore, options: DeadlineOptions = {}) {
    super(db, 'review store', options);
  }

  transact<T>(
    ids: { inferenceId: string; reviewId: string },
    change: (current: ReviewSnapshot) => ReviewChange<T>,
  ): Promise<T> {
    const itemRef = this.db.collection(collections.reviews).doc(ids.reviewId);
    const inferenceRef = this.db.collection(collections.inferences).doc(ids.inferenceId);
    return this.transaction(async (tx, read) => {
      const [inferenceSnap, itemSnap] = await read(tx.getAll(inferenceRef, itemRef));
      const current: ReviewSnapshot = {
        inference: inferenceSnap?.exists ? inferenceFromDocument(inferenceSnap.data()!) : null,
        item: itemSnap?.exists ? itemFromDocument(itemSnap.data()!) : null,
      };
      const { writes, result } = change(current);
      // Reads come before writes in a transaction: the idempotency record is read first, and its stored
      // answer replaced only while it still answers this inference (a key past its TTL may answer another).
      const replay = writes?.replay;
      const ledgerRef = replay
        ? this.db.collection(collections.idempotencyKeys).doc(replay.ledgerRecordId)
        : null;
      const ledgerSnap = ledgerRef ? await read(tx.get(ledgerRef)) : null;
      if (
        replay &&
        ledgerRef &&
        ledgerSnap?.exists &&
        ledgerSnap.get('inferenceId') === replay.inferenceId &&
        ledgerSnap.get('state') === 'completed'
      ) {
        tx.update(ledgerRef, { 'response.body': replay.body });
      }
      if (writes?.item) {
        // `create` also guards against an item appearing between our read and our commit.
        if (current.item) tx.set(itemRef, itemToDocument(writes.item));
        else tx.create(itemRef, itemToDocument(writes.item));
      }
      if (writes?.inference) tx.set(inferenceRef, inferenceToDocument(writes.inference));
      for (const entry of writes?.outbox ?? []) {
        tx.set(this.db.collection(collections.reviewOutbox).doc(entry.id), outboxDocument(entry));
      }
      if (writes?.auditEvent) createPendingCopy(tx, this.db, writes.auditEvent);
      return result;
    });
  }

  async getItem(reviewId: string): Promise<ReviewItem | null> {
    const snap = await this.bounded(() => this.db.collection(collections.reviews).doc(reviewId).get());
    return snap.exists ? itemFromDocument(snap.data()!) : null;
  }

  async listItems(query: ReviewListQuery): Promise<ReviewItem[]> {
    let q = this.db.collection(collections.reviews).where('tenant', '==', query.tenant);
    q =
      query.states.length === 1
        ? q.where('state', '==', query.states[0])
        : q.where('state', 'in', [...query.states]);
    q = q.orderBy('createdAt').orderBy(FieldPath.documentId());
    if (query.after) q = q.startAfter(query.after.createdAt, query.after.id);
    const snap = await this.bounded(() => q.limit(query.limit).get());
    return snap.docs.map((doc) => itemFromDocument(doc.data()));
  }

  async listAwaitingIntake(requestedBefore: Date, limit: number): Promise<string[]> {
    // One range filter and its order on one field: served by the automatic single-field index, no composite
    // index. Null (item taken in) and absent (older records) never match a timestamp range.
    const snap = await this.bounded(() =>
      this.db
        .collection(collections.inferences)
        .where('reviewRequestedAt', '<=', requestedBefore)
        .orderBy('reviewRequestedAt')
        .limit(limit)
        .select()
        .get(),
    );
    return snap.docs.map((doc) => doc.id);
  }
}

function itemToDocument(item: ReviewItem): DocumentData {
  const { proposal, decision, ...rest } = item;
  let storedDecision: DocumentData | null = null;
  if (decision) {
    const { output, ...fields } = decision;
    storedDecision = { ...fields, outputJson: JSON.stringify(output ?? null) };
  }
  return { ...rest, proposalJson: JSON.stringify(proposal ?? null), decision: storedDecision };
}

function itemFromDocument(data: DocumentData): ReviewItem {
  const { proposalJson, decision, ...rest } = revive<Record<string, unknown>>(data);
  const stored = decision as
    | (Omit<NonNullable<ReviewItem['decision']>, 'output'> & { outputJson: string })
    | null;
  return {
    ...(rest as Omit<ReviewItem, 'proposal' | 'decision'>),
    proposal: JSON.parse(String(proposalJson)) as unknown,
    decision: stored
      ? {
          action: stored.action,
          reviewer: stored.reviewer,
          reasonCode: stored.reasonCode,
          note: stored.note,
          output: JSON.parse(stored.outputJson) as unknown,
          decidedAt: stored.decidedAt,
        }
      : null,
  };
}
