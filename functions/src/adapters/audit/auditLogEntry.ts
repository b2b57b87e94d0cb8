import { indexOf } from '../../core/audit/auditIndex.js';
import { AUDIT_LABEL, type AuditEvent } from '../../core/audit/events.js';

/**
 * The Cloud Logging entry of an audit event, as one JSON line on stdout. Cloud Run's logging agent turns
 * the special keys into LogEntry fields (`severity`, `time` → `timestamp`, labels, trace, insertId); the
 * rest is the entry's `jsonPayload`, which the log sink writes to BigQuery as columns
 * (see terraform/schemas/audit_events_v1.md):
 *
 *   audit         the event's index (flat, fixed types)          → jsonPayload.audit.<field>
 *   audit_event   the event itself, as JSON text: the record     → jsonPayload.audit_event (STRING)
 *                 of truth the hash covers, clinical content
 *                 (the response) only here
 */

export const AUDIT_INDEX_KEY = 'audit';
export const AUDIT_EVENT_KEY = 'audit_event';

/** Cloud Logging refuses entries over 256 KiB; keep a margin for the fields the agent adds. */
export const MAX_AUDIT_ENTRY_BYTES = 250 * 1024;

export function auditLogEntry(
  event: AuditEvent,
  eventJson: string,
  project: string,
): Record<string, unknown> {
  return {
    severity: 'NOTICE',
    message: `audit ${event.eventType}`,
    time: event.timestamp,
    'logging.googleapis.com/labels': { [AUDIT_LABEL.key]: AUDIT_LABEL.value, event_type: event.eventType },
    'logging.googleapis.com/insertId': event.eventId,
    ...(event.trace ? { 'logging.googleapis.com/trace': `projects/${project}/traces/${event.trace}` } : {}),
    [AUDIT_INDEX_KEY]: indexOf(event),
    [AUDIT_EVENT_KEY]: eventJson,
  };
}

/** The entry would be refused by Cloud Logging: the event must not be silently lost on the way. */
export class AuditEntryTooLargeError extends Error {
  override readonly name = 'AuditEntryTooLargeError';
  constructor(
    readonly eventId: string,
    readonly bytes: number,
  ) {
    super(
      `audit event ${eventId} makes a ${bytes}-byte log entry, over the ${MAX_AUDIT_ENTRY_BYTES}-byte limit`,
    );
  }
}
export const isAuditEntryTooLargeError = (e: unknown): e is AuditEntryTooLargeError =>
  e instanceof AuditEntryTooLargeError;
