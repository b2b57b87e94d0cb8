import { FieldValue, type Firestore, type Timestamp } from '@google-cloud/firestore';
import type { AuditEvent } from '../../core/audit/events.js';
import type { LapsedClaimStore, StoredLedgerRecord } from '../../core/idempotency/lapsedClaims.js';
import type { LedgerRecord, LedgerStore, Versioned } from '../../core/idempotency/ledger.js';
import { type CoalescedCalls, coalescedCalls } from './coalescedCalls.js';
import {
  BoundedStore,
  collections,
  type DeadlineOptions,
  grpcCode,
  hasCode,
  revive,
} from './firestoreClient.js';
import { createPendingCopy } from './firestorePendingAuditStore.js';

/**
 * The ledger's atomic primitives on Firestore: a conditional create, a replace guarded by the document's
 * update time (compare-and-swap without a transaction), and an owner-checked delete. The creates and reads
 * of requests that arrive together go out together (coalescedCalls.ts). Every call has a
 * deadline of its own (a stalled Firestore is a 503 in seconds); a create or replace that lands after it is
 * an orphaned claim, which the next retry takes over once its lease has run out.
 *
 * Lapsed claims (core/idempotency/lapsedClaims.ts) are found by `leaseExpiresAt`, which only a record in
 * progress has (a completion deletes it): a range on that one field, served by Firestore's automatic
 * single-field index.
 */
export class FirestoreLedgerStore extends BoundedStore implements LedgerStore, LapsedClaimStore {
  /** Claims and reads of concurrent requests share round trips (coalescedCalls.ts). */
  private readonly calls: CoalescedCalls;

  constructor(db: Firestore, options: DeadlineOptions = {}) {
    super(db, 'idempotency ledger', options);
    this.calls = coalescedCalls(db);
  }

  async create(id: string, record: LedgerRecord): Promise<{ version: Timestamp } | null> {
    try {
      const written = await this.bounded(() => this.calls.create(this.ref(id), record));
      return { version: written.writeTime };
    } catch (e) {
      // ABORTED: the create collided with a transaction on the same key. Either way we did not create it;
      // the ledger reads the record and decides again.
      if (hasCode(e, grpcCode.ALREADY_EXISTS) || hasCode(e, grpcCode.ABORTED)) return null;
      throw e;
    }
  }

  async get(id: string): Promise<Versioned<LedgerRecord> | null> {
    const snap = await this.bounded(() => this.calls.get(this.ref(id)));
    if (!snap.exists) return null;
    return { value: revive<LedgerRecord>(snap.data()), version: snap.updateTime };
  }

  async replace(
    id: string,
    record: LedgerRecord,
    version: unknown,
    lapsed?: AuditEvent | null,
  ): Promise<{ version: Timestamp } | null> {
    const batch = this.db.batch();
    batch.update(this.ref(id), ledgerUpdate(record), { lastUpdateTime: version as Timestamp });
    if (lapsed) createPendingCopy(batch, this.db, lapsed);
    try {
      const [written] = await this.bounded(() => batch.commit());
      return { version: written!.writeTime };
    } catch (e) {
      if (isRefusedWrite(e)) return null;
      throw e;
    }
  }

  async deleteIfOwner(id: string, ownerToken: string): Promise<boolean> {
    const ref = this.ref(id);
    return this.transaction(async (tx, read) => {
      const snap = await read(tx.get(ref));
      // Only an unfinished claim is released: if a completion did commit (and only its answer was lost),
      // the stored response must survive so that the retry replays it instead of calling a model again.
      if (!snap.exists || snap.get('ownerToken') !== ownerToken || snap.get('state') !== 'in_progress')
        return false;
      tx.delete(ref);
      return true;
    });
  }

  async listLapsed(before: Date, limit: number): Promise<StoredLedgerRecord[]> {
    const snap = await this.bounded(() =>
      this.db
        .collection(collections.idempotencyKeys)
        .where('leaseExpiresAt', '<', before)
        .orderBy('leaseExpiresAt')
        .limit(limit)
        .get(),
    );
    return snap.docs.map((doc) => ({
      id: doc.id,
      value: revive<LedgerRecord>(doc.data()),
      version: doc.updateTime,
    }));
  }

  async endLapsed(id: string, version: unknown, event: AuditEvent): Promise<boolean> {
    const batch = this.db.batch();
    batch.delete(this.ref(id), { lastUpdateTime: version as Timestamp });
    createPendingCopy(batch, this.db, event);
    try {
      await this.bounded(() => batch.commit());
      return true;
    } catch (e) {
      if (isRefusedWrite(e)) return false;
      throw e;
    }
  }

  private ref(id: string) {
    return this.db.collection(collections.idempotencyKeys).doc(id);
  }
}

/**
 * The update that turns a stored record into `record`: fields of the other state are removed, and so is who
 * asked, once the record no longer needs it (a completed record is never audited as lapsed).
 */
export function ledgerUpdate(record: LedgerRecord): Record<string, unknown> {
  const cleared =
    record.state === 'in_progress'
      ? { response: FieldValue.delete(), completedAt: FieldValue.delete() }
      : { leaseExpiresAt: FieldValue.delete() };
  return { ...record, ...cleared, requester: record.requester ?? FieldValue.delete() };
}

/**
 * A conditioned write that did not apply because the record changed (or a transaction on it collided with
 * ours, ABORTED): the caller decides again, nothing was written.
 */
const isRefusedWrite = (e: unknown): boolean => isPreconditionFailure(e) || hasCode(e, grpcCode.ABORTED);

/** A write conditioned on a version (`lastUpdateTime`) found the document changed or gone. */
export const isPreconditionFailure = (e: unknown): boolean =>
  hasCode(e, grpcCode.FAILED_PRECONDITION) || hasCode(e, grpcCode.NOT_FOUND);
