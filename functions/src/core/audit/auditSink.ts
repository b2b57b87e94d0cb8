import type { AuditEvent } from './events.js';

/**
 * Where audit events go. Production: structured Cloud Logging entries that a log sink routes to BigQuery.
 * Locally: the same entries, and also appended to AUDIT_LOG_FILE. A sink resolves only once the event is
 * written; the HTTP answer waits for it.
 */
export interface AuditSink {
  write(event: AuditEvent): Promise<void>;
}

/**
 * The operational line an audit event that could not be written leaves behind. Its `event` field is what the
 * log-based metric `gateway/audit-write-failed` counts and alerts on (terraform/logging.tf, monitoring.tf):
 * an audit event missing from the trail is a compliance incident, so the line goes out at ERROR. A chained
 * event's pending copy is re-emitted by the repair sweep (which logs the line again each time it fails too);
 * a standalone event is lost.
 */
export const AUDIT_WRITE_FAILED = 'audit_write_failed';

export type AuditWriteFailure = {
  event: typeof AUDIT_WRITE_FAILED;
  eventId: string;
  eventType: AuditEvent['eventType'];
  inferenceId: string | null;
  /** The error's name only: a message may quote data we must not log. */
  error: string;
};

/** Logs `failure` at ERROR (each caller's logger, since core code does not log by itself). */
export type ReportAuditWriteFailure = (message: string, failure: AuditWriteFailure) => void;

/**
 * Writes `event` and never fails the caller: the change it records has committed and stands, and the
 * failure is reported as one countable line. Resolves true once the sink has the event. A chained event is
 * not lost by a failure here: its pending copy, committed with the change, stays, and the repair sweep
 * emits it again (pendingAudit.ts). A standalone event has no such copy.
 */
export async function writeAuditEvent(
  sink: AuditSink,
  event: AuditEvent,
  report: ReportAuditWriteFailure,
): Promise<boolean> {
  try {
    await sink.write(event);
    return true;
  } catch (e) {
    report('audit sink write failed', {
      event: AUDIT_WRITE_FAILED,
      eventId: event.eventId,
      eventType: event.eventType,
      inferenceId: event.inferenceId,
      error: e instanceof Error ? e.name : typeof e,
    });
    return false;
  }
}
