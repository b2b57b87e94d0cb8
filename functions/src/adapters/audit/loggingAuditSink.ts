import { type FileHandle, mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AuditSink } from '../../core/audit/auditSink.js';
import { type AuditEvent, auditEventJson, auditEventSchema } from '../../core/audit/events.js';
import { type LineWriter, stdoutWriter } from '../logging/structuredLog.js';
import { AuditEntryTooLargeError, auditLogEntry, MAX_AUDIT_ENTRY_BYTES } from './auditLogEntry.js';

/**
 * Writes each audit event as a structured Cloud Logging entry on stdout (the log sink routes it to
 * BigQuery) and, when a file is configured (local runs), appends it as one JSON line to that file.
 * Every event is checked against the schema first: an invalid event is a bug, and is refused loudly.
 * Both outputs carry the same JSON text of the event, so what is verified is exactly what was hashed.
 */
export class LoggingAuditSink implements AuditSink {
  /** The local file, opened once for appending (not once per event: that was most of a local event's cost). */
  private file: Promise<FileHandle> | null = null;

  constructor(
    private readonly options: { project: string; toStdout: boolean; file: string | null; write?: LineWriter },
  ) {}

  async write(event: AuditEvent): Promise<void> {
    auditEventSchema.parse(event);
    const eventJson = auditEventJson(event);
    if (this.options.file) {
      const path = this.options.file;
      this.file ??= mkdir(dirname(path), { recursive: true }).then(() => open(path, 'a'));
      // O_APPEND: each event is one write at the end of the file, whatever else appends to it.
      await (await this.file).appendFile(`${eventJson}\n`);
    }
    if (this.options.toStdout) {
      const line = JSON.stringify(auditLogEntry(event, eventJson, this.options.project));
      const bytes = Buffer.byteLength(line);
      if (bytes > MAX_AUDIT_ENTRY_BYTES) throw new AuditEntryTooLargeError(event.eventId, bytes);
      (this.options.write ?? stdoutWriter)(line);
    }
  }

  /** Closes the local file, if one was opened. */
  async close(): Promise<void> {
    const file = this.file;
    this.file = null;
    await (await file?.catch(() => null))?.close();
  }
}
