import type { AuditEvent, AuditEventType } from './events.js';

/**
 * The index of an audit event: a flat, fixed-type projection of the fields audits filter and join on.
 *
 * It exists because of how a Cloud Logging sink builds its BigQuery table: the table's columns are inferred
 * from the entries' JSON, and a field whose type differs from one entry to the next (a model's `response`
 * is an object for one task, a string for an invalid output) makes BigQuery refuse the entry. So the log
 * entry carries this projection as structured columns (every field always a string or a number, names
 * already lower snake case as the sink would make them), and the event itself as one JSON string, which is
 * what the hash covers and what verification reads. Absent fields are left out rather than null.
 */
export type AuditIndex = {
  schema_version: string;
  event_id: string;
  event_type: AuditEventType;
  tenant: string;
  actor_subject: string;
  actor_role: string;
  hash: string;
  inference_id?: string;
  sequence?: number;
  prev_hash?: string;
  patient_ref?: string;
  encounter_ref?: string;
  task?: string;
  status?: string;
  provider?: string;
  model?: string;
  confidence?: number;
  threshold?: number;
  review_id?: string;
  review_action?: string;
  reviewer?: string;
  reason_code?: string;
  breaker_provider?: string;
  breaker_to?: string;
};

/** Every column of the index, with its BigQuery type as the sink writes it (JSON numbers are doubles). */
export const auditIndexColumns = {
  schema_version: 'STRING',
  event_id: 'STRING',
  event_type: 'STRING',
  tenant: 'STRING',
  actor_subject: 'STRING',
  actor_role: 'STRING',
  hash: 'STRING',
  inference_id: 'STRING',
  sequence: 'FLOAT',
  prev_hash: 'STRING',
  patient_ref: 'STRING',
  encounter_ref: 'STRING',
  task: 'STRING',
  status: 'STRING',
  provider: 'STRING',
  model: 'STRING',
  confidence: 'FLOAT',
  threshold: 'FLOAT',
  review_id: 'STRING',
  review_action: 'STRING',
  reviewer: 'STRING',
  reason_code: 'STRING',
  breaker_provider: 'STRING',
  breaker_to: 'STRING',
} as const satisfies Record<keyof AuditIndex, 'STRING' | 'FLOAT'>;

export function indexOf(event: AuditEvent): AuditIndex {
  const d = event.decision;
  const r = event.review;
  const b = event.breaker;
  const optional: Partial<Record<keyof AuditIndex, string | number | null | undefined>> = {
    inference_id: event.inferenceId,
    sequence: event.sequence,
    prev_hash: event.prevHash,
    patient_ref: event.patientRef,
    encounter_ref: event.encounterRef,
    task: event.task,
    status: d?.status,
    provider: d?.provider ?? b?.provider,
    model: d?.model,
    confidence: d?.confidence,
    threshold: d?.threshold,
    review_id: r?.reviewId,
    review_action: r?.action,
    reviewer: r?.reviewer,
    reason_code: r?.reasonCode,
    breaker_provider: b?.provider,
    breaker_to: b?.to,
  };
  const index: Record<string, string | number> = {
    schema_version: event.schemaVersion,
    event_id: event.eventId,
    event_type: event.eventType,
    tenant: event.tenant,
    actor_subject: event.actor.subject,
    actor_role: event.actor.role,
    hash: event.hash,
  };
  for (const [key, value] of Object.entries(optional)) {
    if (value !== null && value !== undefined) index[key] = value;
  }
  return index as AuditIndex;
}
