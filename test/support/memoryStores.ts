import type { ChainHead } from '../../functions/src/core/audit/chain.js';
import { type AuditEvent, auditEventJson } from '../../functions/src/core/audit/events.js';
import type { PendingAuditEvent, PendingAuditStore } from '../../functions/src/core/audit/pendingAudit.js';
import { DependencyUnavailableError, LeaseLostError } from '../../functions/src/core/errors.js';
import type {
  LapsedClaimStore,
  StoredLedgerRecord,
} from '../../functions/src/core/idempotency/lapsedClaims.js';
import type {
  Claim,
  IdempotencyLedger,
  LedgerRecord,
  LedgerStore,
  Versioned,
} from '../../functions/src/core/idempotency/ledger.js';
import type {
  CompletionCommit,
  InferenceRecord,
  InferenceStore,
} from '../../functions/src/core/inference/inference.js';
import type { OutboxEntry, OutboxStore } from '../../functions/src/core/review/outbox.js';
import type { ReviewItem } from '../../functions/src/core/review/reviewItem.js';
import type {
  ReviewChange,
  ReviewListQuery,
  ReviewSnapshot,
  ReviewStore,
} from '../../functions/src/core/review/reviewStore.js';
import { chain, draft } from './auditEvents.js';

/**
 * The stores the core uses, in memory, for unit tests of the rules. They keep the Firestore adapters'
 * contract, and `storeContract.ts` runs one suite against both to prove it:
 *
 * - every document has a version (Firestore: its update time) that changes on every write, and a deleted and
 *   recreated document never gets an old version back, so a precondition on a version means what it does
 *   on Firestore;
 * - `create` fails on a document that exists, `set` replaces; a batch or transaction applies all of its
 *   writes or none;
 * - the outbox entries the inference and review stores write are the ones the outbox store lists;
 * - reads and writes copy, so a caller never holds the stored object.
 *
 * All four stores share one `MemoryDatabase`, as the Firestore adapters share one project.
 */

type Doc<T> = { value: T; version: number };

type OutboxDoc = {
  entry: OutboxEntry;
  published: boolean;
  attempts: number;
  lastFailure: string | null;
};

/** gRPC codes the Firestore SDK fails with; the memory stores fail with the same ones. */
const storeError = (code: 5 | 6 | 10, message: string) => Object.assign(new Error(message), { code });

export class MemoryDatabase {
  private clock = 0;
  readonly ledger = new Map<string, Doc<LedgerRecord>>();
  readonly inferences = new Map<string, Doc<InferenceRecord>>();
  readonly reviews = new Map<string, Doc<ReviewItem>>();
  readonly outbox = new Map<string, Doc<OutboxDoc>>();
  /** Pending copies of committed audit events (core/audit/pendingAudit.ts), by event id. */
  readonly auditPending = new Map<string, Doc<PendingAuditEvent>>();
  /** Batches and transactions committed with at least one write. */
  commits = 0;

  nextVersion(): number {
    this.clock += 1;
    return this.clock;
  }

  /** Stores `value` under `id` in `collection` as a plain write (`set`), outside any store: test set-up. */
  put<T>(collection: Map<string, Doc<T>>, id: string, value: T): void {
    collection.set(id, { value: structuredClone(value), version: this.nextVersion() });
  }

  inference(id: string): InferenceRecord | null {
    return copyOf(this.inferences.get(id));
  }

  item(id: string): ReviewItem | null {
    return copyOf(this.reviews.get(id));
  }

  /** Every outbox entry, in the order first written. */
  outboxEntries(): OutboxEntry[] {
    return [...this.outbox.values()].map((doc) => structuredClone(doc.value.entry));
  }

  stores() {
    return {
      ledger: new MemoryLedgerStore(this),
      inferences: new MemoryInferenceStore(this),
      outbox: new MemoryOutboxStore(this),
      reviews: new MemoryReviewStore(this),
      pending: new MemoryPendingAuditStore(this),
    };
  }

  /** Writes `event`'s pending copy, as the Firestore stores do in the commit of the change it records. */
  putPending(event: AuditEvent): void {
    this.put(this.auditPending, event.eventId, {
      eventId: event.eventId,
      eventJson: auditEventJson(event),
      createdAt: new Date(),
    });
  }
}

const copyOf = <T>(doc: Doc<T> | undefined): T | null => (doc ? structuredClone(doc.value) : null);

/** Completes `claim` as the inference service does: one write conditioned on the claim's version. */
export function completeClaim(
  ledger: IdempotencyLedger,
  inferences: InferenceStore,
  claim: Claim,
  response = { status: 200, body: `{"id":"${claim.inferenceId}"}` },
): Promise<void> {
  return inferences.commitCompletion({
    claim,
    ledgerRecord: ledger.completedRecord(claim, response),
    inference: { id: claim.inferenceId } as never,
    reviewRequest: null,
    auditEvent: chain(draft({ inferenceId: claim.inferenceId }))[0]!,
  });
}

const leaseOf = (record: LedgerRecord): number =>
  record.state === 'in_progress' ? record.leaseExpiresAt.getTime() : Number.POSITIVE_INFINITY;

export class MemoryLedgerStore implements LedgerStore, LapsedClaimStore {
  constructor(readonly db: MemoryDatabase) {}

  async create(id: string, record: LedgerRecord): Promise<{ version: unknown } | null> {
    if (this.db.ledger.has(id)) return null;
    const version = this.db.nextVersion();
    this.db.ledger.set(id, { value: structuredClone(record), version });
    return { version };
  }

  async get(id: string): Promise<Versioned<LedgerRecord> | null> {
    const doc = this.db.ledger.get(id);
    return doc ? { value: structuredClone(doc.value), version: doc.version } : null;
  }

  async replace(
    id: string,
    record: LedgerRecord,
    version: unknown,
    lapsed?: AuditEvent | null,
  ): Promise<{ version: unknown } | null> {
    if (this.db.ledger.get(id)?.version !== version) return null;
    const next = this.db.nextVersion();
    this.db.ledger.set(id, { value: structuredClone(record), version: next });
    if (lapsed) this.db.putPending(lapsed);
    return { version: next };
  }

  async listLapsed(before: Date, limit: number): Promise<StoredLedgerRecord[]> {
    return [...this.db.ledger]
      .filter(([, doc]) => doc.value.state === 'in_progress' && doc.value.leaseExpiresAt < before)
      .sort(([, a], [, b]) => leaseOf(a.value) - leaseOf(b.value))
      .slice(0, limit)
      .map(([id, doc]) => ({ id, value: structuredClone(doc.value), version: doc.version }));
  }

  async endLapsed(id: string, version: unknown, event: AuditEvent): Promise<boolean> {
    if (this.db.ledger.get(id)?.version !== version) return false;
    this.db.ledger.delete(id);
    this.db.putPending(event);
    return true;
  }

  async deleteIfOwner(id: string, ownerToken: string): Promise<boolean> {
    const doc = this.db.ledger.get(id);
    if (!doc || doc.value.ownerToken !== ownerToken || doc.value.state !== 'in_progress') return false;
    this.db.ledger.delete(id);
    return true;
  }
}

export class MemoryInferenceStore implements InferenceStore {
  constructor(readonly db: MemoryDatabase) {}

  async commitCompletion(input: CompletionCommit): Promise<void> {
    // One batch: every precondition is checked before anything is written.
    if (this.db.ledger.get(input.claim.recordId)?.version !== input.claim.version) throw new LeaseLostError();
    const exists =
      this.db.inferences.has(input.inference.id) ||
      (input.reviewRequest !== null && this.db.outbox.has(input.reviewRequest.id)) ||
      this.db.auditPending.has(input.auditEvent.eventId);
    if (exists) {
      // As the Firestore adapter reports a failed create (ALREADY_EXISTS) of its batch.
      throw new DependencyUnavailableError('inference store', 2, {
        cause: storeError(6, 'document already exists'),
      });
    }
    this.db.ledger.set(input.claim.recordId, {
      value: structuredClone(input.ledgerRecord),
      version: this.db.nextVersion(),
    });
    this.db.put(this.db.inferences, input.inference.id, input.inference);
    if (input.reviewRequest) writeOutbox(this.db, input.reviewRequest);
    this.db.putPending(input.auditEvent);
    this.db.commits++;
  }

  async readHead(inferenceId: string): Promise<ChainHead | null> {
    return this.db.inference(inferenceId)?.auditHead ?? null;
  }

  async getInference(id: string): Promise<InferenceRecord | null> {
    return this.db.inference(id);
  }
}

/** A new (or rewritten) outbox entry: undelivered, as `outboxDocument` writes it on Firestore. */
function writeOutbox(db: MemoryDatabase, entry: OutboxEntry): void {
  db.put(db.outbox, entry.id, { entry, published: false, attempts: 0, lastFailure: null });
}

export class MemoryOutboxStore implements OutboxStore {
  constructor(readonly db: MemoryDatabase) {}

  async listUndelivered(createdBefore: Date, limit: number): Promise<OutboxEntry[]> {
    // Firestore orders ties by document id.
    return this.undelivered()
      .filter((e) => e.createdAt <= createdBefore)
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || compare(a.id, b.id))
      .slice(0, limit);
  }

  async undeliveredEventsOf(reviewId: string): Promise<OutboxEntry[]> {
    return this.undelivered().filter((e) => e.kind === 'review_event' && e.reviewId === reviewId);
  }

  async markDelivered(id: string, _at: Date): Promise<void> {
    this.update(id, (doc) => ({ ...doc, published: true }));
  }

  async recordFailure(id: string, _at: Date, reason: string): Promise<void> {
    this.update(id, (doc) => ({ ...doc, attempts: doc.attempts + 1, lastFailure: reason }));
  }

  private undelivered(): OutboxEntry[] {
    return [...this.db.outbox.values()]
      .filter((doc) => !doc.value.published)
      .map((doc) => structuredClone(doc.value.entry));
  }

  /** Firestore's `update`: fails on a document that does not exist. */
  private update(id: string, change: (doc: OutboxDoc) => OutboxDoc): void {
    const doc = this.db.outbox.get(id);
    if (!doc) throw storeError(5, `no outbox entry ${id}`);
    this.db.outbox.set(id, { value: change(doc.value), version: this.db.nextVersion() });
  }
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** How many times a transaction whose reads changed before its commit is run again (Firestore's default). */
const MAX_TRANSACTION_ATTEMPTS = 5;

export class MemoryReviewStore implements ReviewStore {
  constructor(readonly db: MemoryDatabase) {}

  /**
   * Optimistic, as a Firestore transaction behaves to its caller: `change` runs on a snapshot, and the writes
   * commit only if nothing it read (or the idempotency record a replay rewrites) changed meanwhile; else it
   * runs again. Between the read and the commit other calls may run, as they may on Firestore.
   */
  async transact<T>(
    ids: { inferenceId: string; reviewId: string },
    change: (current: ReviewSnapshot) => ReviewChange<T>,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const inferenceDoc = this.db.inferences.get(ids.inferenceId);
      const itemDoc = this.db.reviews.get(ids.reviewId);
      const { writes, result } = change({ inference: copyOf(inferenceDoc), item: copyOf(itemDoc) });
      await Promise.resolve();
      const unchanged =
        this.db.inferences.get(ids.inferenceId) === inferenceDoc &&
        this.db.reviews.get(ids.reviewId) === itemDoc;
      if (!unchanged) {
        if (attempt === MAX_TRANSACTION_ATTEMPTS)
          throw storeError(10, 'too much contention on these documents');
        continue;
      }
      if (!writes) return result;
      const replay = writes.replay;
      const ledgerDoc = replay ? this.db.ledger.get(replay.ledgerRecordId) : undefined;
      if (
        replay &&
        ledgerDoc?.value.state === 'completed' &&
        ledgerDoc.value.inferenceId === replay.inferenceId
      ) {
        const value = { ...ledgerDoc.value, response: { ...ledgerDoc.value.response, body: replay.body } };
        this.db.ledger.set(replay.ledgerRecordId, { value, version: this.db.nextVersion() });
      }
      // An item the snapshot did not have is created: the check above is the create's precondition.
      if (writes.item) this.db.put(this.db.reviews, ids.reviewId, writes.item);
      if (writes.inference) this.db.put(this.db.inferences, ids.inferenceId, writes.inference);
      for (const entry of writes.outbox ?? []) writeOutbox(this.db, entry);
      if (writes.auditEvent) this.db.putPending(writes.auditEvent);
      this.db.commits++;
      return result;
    }
  }

  async getItem(reviewId: string): Promise<ReviewItem | null> {
    return this.db.item(reviewId);
  }

  async listItems(query: ReviewListQuery): Promise<ReviewItem[]> {
    const after = query.after;
    return [...this.db.reviews.values()]
      .map((doc) => doc.value)
      .filter((item) => item.tenant === query.tenant && query.states.includes(item.state))
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || compare(a.id, b.id))
      .filter(
        (item) =>
          !after ||
          item.createdAt > after.createdAt ||
          (item.createdAt.getTime() === after.createdAt.getTime() && item.id > after.id),
      )
      .slice(0, query.limit)
      .map((item) => structuredClone(item));
  }

  /** As the Firestore query: a range on `reviewRequestedAt`, oldest first; unset never matches. */
  async listAwaitingIntake(requestedBefore: Date, limit: number): Promise<string[]> {
    return [...this.db.inferences.values()]
      .map((doc) => doc.value)
      .filter((inference) => inference.reviewRequestedAt && inference.reviewRequestedAt <= requestedBefore)
      .sort(
        (a, b) =>
          (a.reviewRequestedAt?.getTime() ?? 0) - (b.reviewRequestedAt?.getTime() ?? 0) ||
          compare(a.id, b.id),
      )
      .slice(0, limit)
      .map((inference) => inference.id);
  }
}

export class MemoryPendingAuditStore implements PendingAuditStore {
  constructor(readonly db: MemoryDatabase) {}

  async listOlderThan(
    before: Date,
    limit: number,
    after: PendingAuditEvent | null,
  ): Promise<PendingAuditEvent[]> {
    const key = (p: PendingAuditEvent) => [p.createdAt.getTime(), p.eventId] as const;
    const isAfter = (p: PendingAuditEvent) =>
      !after ||
      key(p)[0] > key(after)[0] ||
      (key(p)[0] === key(after)[0] && compare(p.eventId, after.eventId) > 0);
    return [...this.db.auditPending.values()]
      .map((doc) => doc.value)
      .filter((p) => p.createdAt < before && isAfter(p))
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || compare(a.eventId, b.eventId))
      .slice(0, limit)
      .map((p) => structuredClone(p));
  }

  async delete(eventIds: readonly string[]): Promise<void> {
    for (const id of eventIds) this.db.auditPending.delete(id);
  }
}
