import { FieldValue, type Firestore, type Timestamp } from '@google-cloud/firestore';
import type { LedgerRecord, LedgerStore, Versioned } from '../../core/idempotency/ledger.js';
import { collections, grpcCode, hasCode, revive } from './firestoreClient.js';

/**
 * The ledger's atomic primitives on Firestore: a conditional create, a replace guarded by the document's
 * update time (compare-and-swap without a transaction), and an owner-checked delete.
 */
export class FirestoreLedgerStore implements LedgerStore {
  constructor(private readonly db: Firestore) {}

  async create(id: string, record: LedgerRecord): Promise<boolean> {
    try {
      await this.ref(id).create(record);
      return true;
    } catch (e) {
      // ABORTED: the create collided with a transaction on the same key. Either way we did not create it;
      // the ledger reads the record and decides again.
      if (hasCode(e, grpcCode.ALREADY_EXISTS) || hasCode(e, grpcCode.ABORTED)) return false;
      throw e;
    }
  }

  async get(id: string): Promise<Versioned<LedgerRecord> | null> {
    const snap = await this.ref(id).get();
    if (!snap.exists) return null;
    return { value: revive<LedgerRecord>(snap.data()), version: snap.updateTime };
  }

  async replace(id: string, record: LedgerRecord, version: unknown): Promise<boolean> {
    const cleared =
      record.state === 'in_progress'
        ? { response: FieldValue.delete(), completedAt: FieldValue.delete() }
        : {};
    try {
      await this.ref(id).update({ ...record, ...cleared }, { lastUpdateTime: version as Timestamp });
      return true;
    } catch (e) {
      if (
        hasCode(e, grpcCode.FAILED_PRECONDITION) ||
        hasCode(e, grpcCode.NOT_FOUND) ||
        hasCode(e, grpcCode.ABORTED)
      ) {
        return false;
      }
      throw e;
    }
  }

  async deleteIfOwner(id: string, ownerToken: string): Promise<boolean> {
    const ref = this.ref(id);
    return this.db.runTransaction(async (tx) => {
      const snap = await tx.get(ref);
      // Only an unfinished claim is released: if a completion did commit (and only its answer was lost),
      // the stored response must survive so that the retry replays it instead of calling a model again.
      if (!snap.exists || snap.get('ownerToken') !== ownerToken || snap.get('state') !== 'in_progress')
        return false;
      tx.delete(ref);
      return true;
    });
  }

  private ref(id: string) {
    return this.db.collection(collections.idempotencyKeys).doc(id);
  }
}
