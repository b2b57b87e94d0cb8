import type { DocumentData, Firestore } from '@google-cloud/firestore';
import { DependencyUnavailableError, isGatewayError, LeaseLostError } from '../../core/errors.js';
import type { LedgerRecord } from '../../core/idempotency/ledger.js';
import type { InferenceRecord, InferenceStore } from '../../core/inference/inference.js';
import type { OutboxEntry } from '../../core/review/outbox.js';
import { collections, revive } from './firestoreClient.js';
import { outboxDocument } from './firestoreOutboxStore.js';

/**
 * Inferences in Firestore. Model outputs are stored as JSON text: their shape is the model's, and Firestore
 * cannot hold every JSON value (nested arrays), so we never let an output fail a write.
 */
export class FirestoreInferenceStore implements InferenceStore {
  constructor(private readonly db: Firestore) {}

  async commitCompletion(input: {
    ledgerRecordId: string;
    ownerToken: string;
    ledgerRecord: LedgerRecord;
    inference: InferenceRecord;
    reviewRequest?: OutboxEntry | null;
  }): Promise<void> {
    const ledgerRef = this.db.collection(collections.idempotencyKeys).doc(input.ledgerRecordId);
    const inferenceRef = this.db.collection(collections.inferences).doc(input.inference.id);
    const reviewRequest = input.reviewRequest ?? null;
    await guardStore(
      this.db.runTransaction(async (tx) => {
        const snap = await tx.get(ledgerRef);
        if (!snap.exists || snap.get('ownerToken') !== input.ownerToken) throw new LeaseLostError();
        tx.set(ledgerRef, input.ledgerRecord);
        tx.create(inferenceRef, toDocument(input.inference));
        // The review request is recorded with the result it is about, so it cannot be lost (see outbox.ts).
        if (reviewRequest) {
          tx.create(
            this.db.collection(collections.reviewOutbox).doc(reviewRequest.id),
            outboxDocument(reviewRequest),
          );
        }
      }),
    );
  }

  async getInference(id: string): Promise<InferenceRecord | null> {
    const snap = await guardStore(this.db.collection(collections.inferences).doc(id).get());
    return snap.exists ? fromDocument(snap.data()!) : null;
  }
}

/** Firestore failures become one retryable error (503); the domain's own errors pass through. */
async function guardStore<T>(op: Promise<T>): Promise<T> {
  try {
    return await op;
  } catch (e) {
    if (isGatewayError(e)) throw e;
    throw new DependencyUnavailableError('inference store', 2, { cause: e });
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
