import { z } from 'zod';
import { breakerStateKinds } from '../breakers/breakerState.js';
import auditStream from './auditStream.json' with { type: 'json' };

/**
 * The audit event schema, versioned. Audit events are the only records that carry clinical content (the
 * response, the edited output's hash, never the input text), and only in the fields this schema names.
 */
export const AUDIT_SCHEMA_VERSION = '1.3';
/**
 * Versions this code reads. 1.1 only added fields and event types (`patientRef`, `encounterRef`,
 * `inference.viewed`); 1.2 added `chainKeyId` and made every hash an HMAC under that chain key; 1.3 only
 * added the event type `review.request_resent` (and its review action). Events of 1.0 and 1.1 still parse,
 * but carry no key id: the verifier reports them as unkeyed, since a plain SHA-256 proves nothing against
 * someone who can rewrite the rows.
 */
export const readableSchemaVersions = ['1.0', '1.1', '1.2', AUDIT_SCHEMA_VERSION] as const;
export const AUDIT_LABEL = { key: auditStream.labelKey, value: auditStream.labelValue } as const;

export const auditEventTypes = [
  'inference.completed',
  'inference.routed_to_review',
  'inference.failed',
  'inference.replayed',
  'inference.viewed',
  'review.enqueued',
  /** The review request of an inference whose item never appeared was sent again (reviewRequestReconciler.ts). */
  'review.request_resent',
  'review.claimed',
  'review.decided',
  'review.escalated',
  'breaker.opened',
  'breaker.half_opened',
  'breaker.closed',
] as const;
export type AuditEventType = (typeof auditEventTypes)[number];

const attempt = z.object({
  provider: z.string(),
  model: z.string(),
  breakerState: z.enum(breakerStateKinds),
  outcome: z.enum(['success', 'skipped_open', 'failure']),
  failureKind: z.string().optional(),
  latencyMs: z.number().nonnegative(),
});

const actor = z.object({
  subject: z.string(),
  tenant: z.string(),
  role: z.enum(['clinician', 'reviewer', 'admin', 'system']),
});

export const auditEventSchema = z.strictObject({
  schemaVersion: z.enum(readableSchemaVersions),
  eventId: z.string().min(1),
  eventType: z.enum(auditEventTypes),
  timestamp: z.iso.datetime(),
  tenant: z.string(),
  actor,
  inferenceId: z.string().nullable(),
  /**
   * The caller's patient and encounter references (opaque ids, never names), copied onto the inference's
   * events so that "what did the AI say about this patient" is answerable from the audit dataset alone.
   * Optional: absent on 1.0 events and on events not about one patient (breakers).
   */
  patientRef: z.string().nullable().optional(),
  encounterRef: z.string().nullable().optional(),
  /** Which chain key sealed `hash` (a Secret Manager version, e.g. "v3"); absent before 1.2. */
  chainKeyId: z.string().min(1).optional(),
  /** Per-inference hash chain (tamper evidence): 1, 2, 3... and the previous event's hash. */
  sequence: z.number().int().positive().nullable(),
  prevHash: z.string().nullable(),
  hash: z.string(),
  gatewayVersion: z.string(),
  trace: z.string().nullable(),
  task: z.string().nullable(),
  decision: z
    .strictObject({
      status: z.string().nullable(),
      httpStatus: z.number().int().nullable(),
      provider: z.string().nullable(),
      model: z.string().nullable(),
      modelVersion: z.string().nullable(),
      routing: z.object({ attempts: z.array(attempt), fallbackTaken: z.boolean() }).nullable(),
      promptTemplateVersion: z.string().nullable(),
      /** HMAC-SHA-256 of the prompt under the audit key: provable, not reversible by guessing. */
      promptHash: z.string().nullable(),
      response: z.unknown().nullable(),
      confidence: z.number().min(0).max(1).nullable(),
      threshold: z.number().min(0).max(1).nullable(),
      scorerVersion: z.string().nullable(),
      scoreBasis: z.string().nullable(),
      sampledForReview: z.boolean().nullable(),
      failureReason: z.string().nullable(),
      latencyMs: z
        .object({ total: z.number().nonnegative(), provider: z.number().nonnegative().nullable() })
        .nullable(),
    })
    .nullable(),
  review: z
    .strictObject({
      reviewId: z.string(),
      reviewer: z.string().nullable(),
      action: z.enum(['enqueued', 'request_resent', 'claimed', 'approve', 'edit', 'reject', 'escalated']),
      reasonCode: z.string().nullable(),
      editHash: z.string().nullable(),
      dueAt: z.string().nullable(),
    })
    .nullable(),
  breaker: z
    .strictObject({
      provider: z.string(),
      from: z.enum(breakerStateKinds),
      to: z.enum(breakerStateKinds),
      windowRequests: z.number().int().nonnegative(),
      windowFailures: z.number().int().nonnegative(),
      errorRate: z.number().min(0).max(1),
    })
    .nullable(),
});
export type AuditEvent = z.infer<typeof auditEventSchema>;

/** A decision block with nothing decided, for events that only point at a decision made earlier. */
export const emptyDecision: NonNullable<AuditEvent['decision']> = {
  status: null,
  httpStatus: null,
  provider: null,
  model: null,
  modelVersion: null,
  routing: null,
  promptTemplateVersion: null,
  promptHash: null,
  response: null,
  confidence: null,
  threshold: null,
  scorerVersion: null,
  scoreBasis: null,
  sampledForReview: null,
  failureReason: null,
  latencyMs: null,
};

const jsonOfEvent = new WeakMap<AuditEvent, string>();

/**
 * The event's JSON text, computed once per sealed event: its pending copy (written in the commit) and the
 * sink (after it) both need exactly this text, and the request path pays for it once. A sealed event is
 * never changed, so the text stays its own.
 */
export function auditEventJson(event: AuditEvent): string {
  let json = jsonOfEvent.get(event);
  if (json === undefined) {
    json = JSON.stringify(event);
    jsonOfEvent.set(event, json);
  }
  return json;
}
