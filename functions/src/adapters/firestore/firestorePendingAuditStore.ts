import {
  type DocumentData,
  type DocumentReference,
  FieldPath,
  FieldValue,
  type Firestore,
  Timestamp,
} from '@google-cloud/firestore';
import { type AuditEvent, auditEventJson } from '../../core/audit/events.js';
import type { PendingAuditEvent, PendingAuditStore } from '../../core/audit/pendingAudit.js';
import { BoundedStore, collections, type DeadlineOptions } from './firestoreClient.js';

/**
 * `auditPending/{eventId}`: the pending copies of committed audit events (core/audit/pendingAudit.ts). The
 * event is kept as its JSON text, exactly as it was sealed: a Firestore map would not give back every JSON
 * value unchanged, and the re-emitted event must hash the same. The repair sweep's query (createdAt before
 * a time, oldest first) is served by the automatic single-field index.
 */

/**
 * A backstop only: a copy normally goes within seconds of its commit, or at the next sweep after the grace.
 * One that is still here after 30 days is one the sink refused for a month; the alert has fired on it at
 * every sweep since, and the chain head still names the event, so `audit:completeness` reports its absence.
 */
const KEEP_PENDING_MS = 30 * 24 * 3_600_000;

/** The document of a pending copy; written by whichever store commits the change the event records. */
export function pendingAuditDocument(event: AuditEvent): DocumentData {
  return {
    eventJson: auditEventJson(event),
    tenant: event.tenant,
    inferenceId: event.inferenceId,
    // The server's clock: the grace is measured against one clock, whichever instance wrote the copy.
    createdAt: FieldValue.serverTimestamp(),
    expiresAt: new Date(Date.now() + KEEP_PENDING_MS),
  };
}

/**
 * Adds `event`'s pending copy to `writer` (a batch or a transaction), which commits it atomically with the
 * change the event records: the one place a copy is created, by whichever store commits that change.
 */
export function createPendingCopy(
  writer: { create(ref: DocumentReference, data: DocumentData): unknown },
  db: Firestore,
  event: AuditEvent,
): void {
  writer.create(db.collection(collections.auditPending).doc(event.eventId), pendingAuditDocument(event));
}

export class FirestorePendingAuditStore extends BoundedStore implements PendingAuditStore {
  constructor(db: Firestore, options: DeadlineOptions = {}) {
    super(db, 'pending audit events', options);
  }

  async listOlderThan(
    before: Date,
    limit: number,
    after: PendingAuditEvent | null,
  ): Promise<PendingAuditEvent[]> {
    let query = this.db
      .collection(collections.auditPending)
      .where('createdAt', '<', before)
      .orderBy('createdAt')
      .orderBy(FieldPath.documentId());
    if (after) {
      const at = after.position instanceof Timestamp ? after.position : Timestamp.fromDate(after.createdAt);
      query = query.startAfter(at, after.eventId);
    }
    const snap = await this.bounded(() => query.limit(limit).get());
    return snap.docs.map((doc) => {
      const createdAt = doc.get('createdAt') as Timestamp;
      return {
        eventId: doc.id,
        eventJson: String(doc.get('eventJson')),
        createdAt: createdAt.toDate(),
        position: createdAt,
      };
    });
  }

  async delete(eventIds: readonly string[]): Promise<void> {
    // At most 500 writes per batch.
    for (let i = 0; i < eventIds.length; i += 500) {
      const batch = this.db.batch();
      for (const id of eventIds.slice(i, i + 500)) {
        batch.delete(this.db.collection(collections.auditPending).doc(id));
      }
      await this.bounded(() => batch.commit());
    }
  }
}
