import type { AuditEvent } from './events.js';

/**
 * Where audit events go. Production: structured Cloud Logging entries that a log sink routes to BigQuery.
 * Locally: the same entries, and also appended to AUDIT_LOG_FILE. A sink resolves only once the event is
 * written; the HTTP answer waits for it.
 */
export interface AuditSink {
  write(event: AuditEvent): Promise<void>;
}
