import type { AuditTrail } from '../audit/auditTrail.js';
import type { AuditEvent } from '../audit/events.js';
import { orUnavailable } from '../errors.js';
import type { InferenceRecord } from '../inference/inference.js';
import type { OutboxEntry } from './outbox.js';
import type { ReviewItem, ReviewItemState } from './reviewItem.js';

/**
 * Storage of review items. The rules live in the review services; the store supplies one transactional
 * primitive over an item and its inference (so a decision changes both at once, and every audit event
 * advances the inference's hash chain exactly once), plus reads.
 */

export type ReviewSnapshot = { inference: InferenceRecord | null; item: ReviewItem | null };

export type ReviewWrites = {
  /** Creates the item if the snapshot had none, else replaces it. */
  item?: ReviewItem;
  inference?: InferenceRecord;
  /** Outbox entries created in the same transaction (see outbox.ts). */
  outbox?: OutboxEntry[];
  /**
   * The answer a replay of the inference's request now gives (its current representation, same status
   * code). Written to the idempotency record only if that record still answers this inference.
   */
  replay?: { ledgerRecordId: string; inferenceId: string; body: string };
  /** The audit event this change appends: stored as its pending copy in the same commit (pendingAudit.ts). */
  auditEvent?: AuditEvent;
};

/** What a change decides: what to write (null: nothing) and what to return after commit. */
export type ReviewChange<T> = { writes: ReviewWrites | null; result: T };

export type ReviewListQuery = {
  tenant: string;
  states: readonly ReviewItemState[];
  limit: number;
  /** Resume after this item (same order: createdAt, then id). */
  after: { createdAt: Date; id: string } | null;
};

export interface ReviewStore {
  /**
   * Reads the inference and its review item in one transaction, lets `change` decide and writes what it
   * returns, atomically. `change` must be pure: the transaction may run it more than once. Errors it throws
   * abort the transaction and reach the caller unchanged.
   */
  transact<T>(
    ids: { inferenceId: string; reviewId: string },
    change: (current: ReviewSnapshot) => ReviewChange<T>,
  ): Promise<T>;
  getItem(reviewId: string): Promise<ReviewItem | null>;
  /** A tenant's items in the given stored states, oldest first (createdAt, then id). */
  listItems(query: ReviewListQuery): Promise<ReviewItem[]>;
  /**
   * Ids of inferences, of every tenant, sent to review whose item does not exist yet and whose review
   * request was last sent at or before `requestedBefore` (`InferenceRecord.reviewRequestedAt`), oldest first.
   */
  listAwaitingIntake(requestedBefore: Date, limit: number): Promise<string[]>;
}

/** A change to a review that appends `event` to the inference's audit chain (null: writes nothing). */
export type AuditedReviewChange<T> = { writes: ReviewWrites | null; event: AuditEvent | null; result: T };

/**
 * The review side of the audited commit (see auditTrail.ts): the change runs inside the store's transaction,
 * what it seals is tracked, and the event is emitted once the change is known to be committed. Storage
 * failures become one retryable error; the rules' own errors pass through.
 */
export async function commitReviewChange<T>(
  store: ReviewStore,
  trail: AuditTrail,
  ids: { inferenceId: string; reviewId: string },
  change: (current: ReviewSnapshot) => AuditedReviewChange<T>,
): Promise<T> {
  return orUnavailable('review store', () =>
    trail.commit(ids.inferenceId, (track) =>
      store.transact(ids, (current) => {
        const { writes, event, result } = change(current);
        // The event's pending copy rides the same transaction: nothing is committed without it.
        return {
          writes: writes && event ? { ...writes, auditEvent: event } : writes,
          result: track({ event, result }),
        };
      }),
    ),
  );
}
