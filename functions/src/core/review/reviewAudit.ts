import { randomUUID } from 'node:crypto';
import type { AuditDraft, ChainHead } from '../audit/chain.js';
import { AUDIT_SCHEMA_VERSION, type AuditEvent } from '../audit/events.js';
import type { InferenceRecord } from '../inference/inference.js';

/**
 * Drafts of the review events (`review.enqueued|claimed|decided|escalated`). They are sealed onto the
 * inference's hash chain inside the transaction that changes the review, and written after commit.
 * Ids and time are fixed before the transaction, so a retried transaction seals the very same event.
 */

export type ReviewEventType = Extract<AuditEvent['eventType'], `review.${string}`>;
/** Who acts: a reviewer, or the gateway itself (`system`). The tenant is always the inference's. */
export type ReviewActor = { subject: string; role: 'reviewer' | 'system' };

export type ReviewEventFrame = {
  eventId: string;
  timestamp: string;
  actor: ReviewActor;
  trace: string | null;
};

export const eventFrame = (actor: ReviewActor, now: Date, trace: string | null = null): ReviewEventFrame => ({
  eventId: randomUUID(),
  timestamp: now.toISOString(),
  actor,
  trace,
});

export function reviewEventDraft(
  frame: ReviewEventFrame,
  eventType: ReviewEventType,
  inference: InferenceRecord,
  review: NonNullable<AuditEvent['review']>,
  gatewayVersion: string,
): AuditDraft {
  return {
    schemaVersion: AUDIT_SCHEMA_VERSION,
    eventId: frame.eventId,
    eventType,
    timestamp: frame.timestamp,
    tenant: inference.tenant,
    actor: { ...frame.actor, tenant: inference.tenant },
    inferenceId: inference.id,
    patientRef: inference.patientRef,
    encounterRef: inference.encounterRef,
    gatewayVersion,
    trace: frame.trace,
    task: inference.task,
    decision: null,
    review,
    breaker: null,
  };
}

/** The inference's chain head to seal onto; a never-sealed placeholder head means "first event". */
export const chainHeadOf = (inference: InferenceRecord): ChainHead | null =>
  inference.auditHead && inference.auditHead.sequence > 0 ? inference.auditHead : null;
