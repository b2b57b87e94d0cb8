import type { ChainHead } from '../audit/chain.js';
import type { ProviderAttempt } from '../errors.js';
import type { TaskName } from '../tasks.js';

export type InferenceStatus = 'completed' | 'pending_review' | 'rejected';
export type ReviewState = 'pending' | 'approved' | 'edited' | 'rejected';

export type ReviewSummary = {
  state: ReviewState;
  reviewer: string | null;
  reasonCode: string | null;
  decidedAt: Date | null;
};

/** An inference as stored. The model's `proposal` is kept apart from the `output` a caller may see. */
export type InferenceRecord = {
  id: string;
  tenant: string;
  requestedBy: string;
  task: TaskName;
  status: InferenceStatus;
  input: { text: string };
  patientRef: string | null;
  encounterRef: string | null;
  callbackUrl: string | null;
  /** What the caller sees: null while pending review or when rejected. */
  output: unknown | null;
  /** What the model proposed; shown to reviewers, never to the caller before a decision. */
  proposal: unknown | null;
  confidence: number;
  threshold: number;
  scorerVersion: string;
  scoreBasis: string;
  sampledForReview: boolean;
  provider: string;
  model: string;
  promptTemplateVersion: string;
  promptHash: string;
  attempts: ProviderAttempt[];
  review: ReviewSummary | null;
  createdAt: Date;
  completedAt: Date | null;
  /** Head of this inference's audit hash chain. */
  auditHead: ChainHead;
};

/** The inference resource of the HTTP contract. */
export type InferenceResource = {
  id: string;
  status: InferenceStatus;
  task: string;
  output: unknown | null;
  confidence: number;
  threshold: number;
  provider: string;
  model: string;
  review: {
    state: ReviewState;
    reviewer: string | null;
    reasonCode: string | null;
    decidedAt: string | null;
  } | null;
  createdAt: string;
  completedAt: string | null;
};

export function toResource(r: InferenceRecord): InferenceResource {
  return {
    id: r.id,
    status: r.status,
    task: r.task,
    output: r.status === 'completed' ? r.output : null,
    confidence: r.confidence,
    threshold: r.threshold,
    provider: r.provider,
    model: r.model,
    review: r.review
      ? {
          state: r.review.state,
          reviewer: r.review.reviewer,
          reasonCode: r.review.reasonCode,
          decidedAt: r.review.decidedAt?.toISOString() ?? null,
        }
      : null,
    createdAt: r.createdAt.toISOString(),
    completedAt: r.completedAt?.toISOString() ?? null,
  };
}

/** Storage for inferences. `commitCompletion` is the ledger's second atomic step. */
export interface InferenceStore {
  /**
   * In one atomic step: checks that `ownerToken` still owns the ledger record, marks it completed with
   * the stored response, and writes the inference, and with it `reviewRequest` (the review outbox entry of
   * an inference sent to review) if given. Throws `LeaseLostError` if the claim was taken over.
   */
  commitCompletion(input: {
    ledgerRecordId: string;
    ownerToken: string;
    ledgerRecord: import('../idempotency/ledger.js').LedgerRecord;
    inference: InferenceRecord;
    reviewRequest?: import('../review/outbox.js').OutboxEntry | null;
  }): Promise<void>;
  getInference(id: string): Promise<InferenceRecord | null>;
}
