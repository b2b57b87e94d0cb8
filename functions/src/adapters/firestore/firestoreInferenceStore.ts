import type { DocumentData, Firestore, Timestamp } from '@google-cloud/firestore';
import type { ChainHead } from '../../core/audit/chain.js';
import { asDependencyFailure, isGatewayError, LeaseLostError } from '../../core/errors.js';
import type { CompletionCommit, InferenceRecord, InferenceStore } from '../../core/inference/inference.js';
import { type CoalescedCalls, type CommitWrite, coalescedCalls } from './coalescedCalls.js';
import { BoundedStore, collections, type DeadlineOptions, hasStatus, revive } from './firestoreClient.js';
import { isPreconditionFailure, ledgerUpdate } from './firestoreLedgerStore.js';
import { outboxDocument } from './firestoreOutboxStore.js';
import { createPendingCopy } from './firestorePendingAuditStore.js';

/**
 * Inferences in Firestore. Model outputs are stored as JSON text: their shape is the model's, and Firestore
 * cannot hold every JSON value (nested arrays), so we never let an output fail a write. Every call has a
 * deadline of its own: a completion that lands after it is resolved by the audited commit's read-back.
 */
export class FirestoreInferenceStore extends BoundedStore implements InferenceStore {
  /**
   * Completions of concurrent requests, and their reads (clients polling a pending inference), share round
   * trips.
   */
  private readonly calls: CoalescedCalls;

  constructor(db: Firestore, options: DeadlineOptions = {}) {
    super(db, 'inference store', options);
    this.calls = coalescedCalls(db);
  }

  async commitCompletion(input: CompletionCommit): Promise<void> {
    const writes: CommitWrite[] = [
      {
        kind: 'update',
        ref: this.db.collection(collections.idempotencyKeys).doc(input.claim.recordId),
        data: ledgerUpdate(input.ledgerRecord),
        lastUpdateTime: input.claim.version as Timestamp,
      },
      {
        kind: 'create',
        ref: this.db.collection(collections.inferences).doc(input.inference.id),
        data: toDocument(input.inference),
      },
    ];
    // The review request is recorded with the result it is about, so it cannot be lost (see outbox.ts).
    if (input.reviewRequest) {
      writes.push({
        kind: 'create',
        ref: this.db.collection(collections.reviewOutbox).doc(input.reviewRequest.id),
        data: outboxDocument(input.reviewRequest),
      });
    }
    // The event's pending copy, in the same commit (no round trip of its own): see core/audit/pendingAudit.ts.
    createPendingCopy(
      { create: (ref, data) => writes.push({ kind: 'create', ref, data }) },
      this.db,
      input.auditEvent,
    );
    try {
      // With the completions of other requests that finish in the same turn: one Commit for all of them,
      // each still all or nothing (coalescedCalls.ts).
      await this.bounded(() => this.calls.commit(writes));
    } catch (e) {
      // The record changed since the claim wrote it: taken over (or released and claimed anew).
      if (isPreconditionFailure(e)) throw new LeaseLostError();
      // A document the client cannot encode is our fault, not the store's: not a retryable 503.
      if (!hasStatus(e) && !isGatewayError(e)) throw e;
      throw asDependencyFailure('inference store', e);
    }
  }

  async readHead(inferenceId: string): Promise<ChainHead | null> {
    const ref = this.db.collection(collections.inferences).doc(inferenceId);
    const [snap] = await this.guard(() => this.db.getAll(ref, { fieldMask: ['auditHead'] }));
    return snap?.exists ? ((snap.get('auditHead') as ChainHead | undefined) ?? null) : null;
  }

  async getInference(id: string): Promise<InferenceRecord | null> {
    const snap = await this.guard(() => this.calls.get(this.db.collection(collections.inferences).doc(id)));
    return snap.exists ? fromDocument(snap.data()!) : null;
  }

  /** Firestore failures and stalls become one retryable error (503); the domain's own errors pass through. */
  private async guard<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await this.bounded(call);
    } catch (e) {
      throw asDependencyFailure('inference store', e);
    }
  }
}

export function toDocument(r: InferenceRecord): DocumentData {
  const { output, proposal, ...rest } = r;
  return {
    ...rest,
    outputJson: JSON.stringify(output ?? null),
    proposalJson: JSON.stringify(proposal ?? null),
  };
}

export function fromDocument(data: DocumentData): InferenceRecord {
  const { outputJson, proposalJson, ...rest } = revive<Record<string, unknown>>(data);
  return {
    ...(rest as Omit<InferenceRecord, 'output' | 'proposal'>),
    output: JSON.parse(String(outputJson)) as unknown,
    proposal: JSON.parse(String(proposalJson)) as unknown,
  };
}
