import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AuditSink } from '../../core/audit/auditSink.js';
import { type AuditEvent, auditEventSchema } from '../../core/audit/events.js';
import { auditLogLine, type LineWriter, stdoutWriter } from '../logging/structuredLog.js';

/**
 * Writes each audit event as a structured Cloud Logging entry on stdout (the log sink routes it to
 * BigQuery) and, when a file is configured (local runs), appends it as one JSON line to that file.
 * Every event is checked against the schema first: an invalid event is a bug, and is refused loudly.
 */
export class LoggingAuditSink implements AuditSink {
  private dirReady: Promise<unknown> | null = null;

  constructor(
    private readonly options: { project: string; toStdout: boolean; file: string | null; write?: LineWriter },
  ) {}

  async write(event: AuditEvent): Promise<void> {
    const valid = auditEventSchema.parse(event);
    if (this.options.toStdout)
      (this.options.write ?? stdoutWriter)(auditLogLine(valid, this.options.project));
    if (this.options.file) {
      this.dirReady ??= mkdir(dirname(this.options.file), { recursive: true });
      await this.dirReady;
      await appendFile(this.options.file, `${JSON.stringify(valid)}\n`);
    }
  }
}
