import type { TaskName } from '../tasks.js';

/**
 * A review item: one model proposal waiting for (or decided by) a clinical reviewer. There is exactly one per
 * inference sent to review; its id is derived from the inference id, so redelivered review requests can
 * never make a second one.
 *
 *   pending ──claim──▶ claimed ──decision──▶ approved | edited | rejected
 *      ▲                  │
 *      └─ lease expires ──┘   (an expired claim is shown, and can be claimed, as pending)
 *
 * Escalation (the due time passed undecided) is a flag on a pending or claimed item, never a decision.
 */

export const reasonCodes = ['incorrect', 'incomplete', 'unsafe', 'other'] as const;
export type ReasonCode = (typeof reasonCodes)[number];

export const reviewActions = ['approve', 'edit', 'reject'] as const;
export type ReviewAction = (typeof reviewActions)[number];

export const reviewItemStates = ['pending', 'claimed', 'approved', 'edited', 'rejected'] as const;
export type ReviewItemState = (typeof reviewItemStates)[number];

export type ReviewDecision = {
  action: ReviewAction;
  reviewer: string;
  reasonCode: ReasonCode | null;
  /** The reviewer's free-text note. Clinical content: stored with the item, never logged or audited. */
  note: string | null;
  /** The edited output for `edit`, else null. */
  output: unknown | null;
  decidedAt: Date;
};

export type ReviewItem = {
  id: string;
  inferenceId: string;
  tenant: string;
  task: TaskName;
  input: { text: string };
  /** The model's proposal, as stored with the inference. */
  proposal: unknown | null;
  confidence: number;
  threshold: number;
  scoreBasis: string;
  /** Sent to review by quality sampling although confident (the caller already has the output). */
  sampled: boolean;
  provider: string;
  model: string;
  state: ReviewItemState;
  claimedBy: string | null;
  leaseExpiresAt: Date | null;
  /** When the inference was created: the queue's order and the start of the review SLA. */
  createdAt: Date;
  /** When the review request became this item. */
  enqueuedAt: Date;
  dueAt: Date;
  escalatedAt: Date | null;
  decision: ReviewDecision | null;
};

/** The ReviewItem of the HTTP contract, plus `escalated`, `sampled` and the `decision` once there is one. */
export type ReviewItemView = {
  id: string;
  inferenceId: string;
  task: string;
  input: { text: string };
  output: unknown | null;
  confidence: number;
  threshold: number;
  provider: string;
  model: string;
  state: ReviewItemState;
  claimedBy: string | null;
  leaseExpiresAt: string | null;
  createdAt: string;
  dueAt: string;
  escalated: boolean;
  sampled: boolean;
  decision: {
    action: ReviewAction;
    reviewer: string;
    reasonCode: ReasonCode | null;
    note: string | null;
    output: unknown | null;
    decidedAt: string;
  } | null;
};

const INFERENCE_PREFIX = 'inf_';
export const inferenceIdPattern = /^inf_[A-Za-z0-9_-]{1,128}$/;
export const reviewIdPattern = /^rev_[A-Za-z0-9_-]{1,128}$/;

/** The review item id of an inference: `inf_X` → `rev_X`, readable both ways by an operator. */
export function reviewIdFor(inferenceId: string): string {
  if (!inferenceIdPattern.test(inferenceId)) throw new Error('not an inference id');
  return `rev_${inferenceId.slice(INFERENCE_PREFIX.length)}`;
}

export function inferenceIdFor(reviewId: string): string {
  if (!reviewIdPattern.test(reviewId)) throw new Error('not a review id');
  return `${INFERENCE_PREFIX}${reviewId.slice('rev_'.length)}`;
}

export const isDecided = (item: ReviewItem): boolean =>
  item.state === 'approved' || item.state === 'edited' || item.state === 'rejected';

export const hasLiveClaim = (item: ReviewItem, now: Date): boolean =>
  item.state === 'claimed' && item.leaseExpiresAt !== null && item.leaseExpiresAt > now;

/** The state a reviewer sees: a claim whose lease ran out is pending again. */
export function effectiveState(item: ReviewItem, now: Date): ReviewItemState {
  return item.state === 'claimed' && !hasLiveClaim(item, now) ? 'pending' : item.state;
}

export function toView(item: ReviewItem, now: Date): ReviewItemView {
  const state = effectiveState(item, now);
  const claimed = state === 'claimed';
  // A decided item keeps the reviewer who held it; a pending one (never or no longer claimed) shows none.
  return {
    id: item.id,
    inferenceId: item.inferenceId,
    task: item.task,
    input: { text: item.input.text },
    output: item.proposal,
    confidence: item.confidence,
    threshold: item.threshold,
    provider: item.provider,
    model: item.model,
    state,
    claimedBy: state === 'pending' ? null : item.claimedBy,
    leaseExpiresAt: claimed ? (item.leaseExpiresAt?.toISOString() ?? null) : null,
    createdAt: item.createdAt.toISOString(),
    dueAt: item.dueAt.toISOString(),
    escalated: item.escalatedAt !== null,
    sampled: item.sampled,
    decision: item.decision
      ? {
          action: item.decision.action,
          reviewer: item.decision.reviewer,
          reasonCode: item.decision.reasonCode,
          note: item.decision.note,
          output: item.decision.output,
          decidedAt: item.decision.decidedAt.toISOString(),
        }
      : null,
  };
}
