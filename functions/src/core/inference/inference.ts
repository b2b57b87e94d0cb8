import type { ChainHeads } from '../audit/auditTrail.js';
import type { ChainHead } from '../audit/chain.js';
import type { AuditEvent } from '../audit/events.js';
import type { ProviderAttempt } from '../errors.js';
import type { Claim, LedgerRecord } from '../idempotency/ledger.js';
import type { OutboxEntry } from '../review/outbox.js';
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
  /**
   * The idempotency record that answered its request: a review decision rewrites the answer stored there,
   * so that a replay never shows an output a reviewer has since edited or rejected. Absent on older records.
   */
  ledgerRecordId?: string;
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
  /**
   * While an inference sent to review has no review item yet: when its review request was last sent (its
   * answer's time, then each re-send). Null once the review intake has created the item, and for inferences
   * not sent to review. The reconciler (core/review/reviewRequestReconciler.ts) re-sends the request of any
   * inference whose time here is older than its grace. Absent on records older than the reconciler.
   */
  reviewRequestedAt?: Date | null;
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

/** What the ledger's second atomic step writes (see `InferenceStore.commitCompletion`). */
export type CompletionCommit = {
  claim: Claim;
  ledgerRecord: LedgerRecord;
  inference: InferenceRecord;
  reviewRequest: OutboxEntry | null;
  auditEvent: AuditEvent;
};

/** Storage for inferences. `commitCompletion` is the ledger's second atomic step. */
export interface InferenceStore extends ChainHeads {
  /**
   * One atomic write, without a read: marks the claim's ledger record completed with the stored response,
   * but only if the record is still exactly as `claim` wrote it (its version: a precondition on the write,
   * which proves that the claim was not taken over or released meanwhile), and creates the inference and,
   * with it, `reviewRequest` (the review outbox entry of an inference sent to review) if given, and the
   * pending copy of `auditEvent` (core/audit/pendingAudit.ts). Throws `LeaseLostError` when the
   * precondition fails.
   */
  commitCompletion(input: CompletionCommit): Promise<void>;
  getInference(id: string): Promise<InferenceRecord | null>;
}
