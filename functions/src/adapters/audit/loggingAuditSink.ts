import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
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
  /**
   * The local file, opened once for appending (not once per event: that was most of a local event's cost),
   * as a stream: events that arrive while a write is under way go out together in the next one (one
   * `writev`), instead of one system call each.
   */
  private file: Promise<WriteStream> | null = null;

  constructor(
    private readonly options: { project: string; toStdout: boolean; file: string | null; write?: LineWriter },
  ) {}

  async write(event: AuditEvent): Promise<void> {
    auditEventSchema.parse(event);
    const eventJson = auditEventJson(event);
    if (this.options.file) await this.append(this.options.file, `${eventJson}\n`);
    if (this.options.toStdout) {
      const line = JSON.stringify(auditLogEntry(event, eventJson, this.options.project));
      const bytes = Buffer.byteLength(line);
      if (bytes > MAX_AUDIT_ENTRY_BYTES) throw new AuditEntryTooLargeError(event.eventId, bytes);
      (this.options.write ?? stdoutWriter)(line);
    }
  }

  /** Resolves once the line is handed to the operating system (not fsynced: a crash of the machine, not of the process, can lose it). */
  private async append(path: string, line: string): Promise<void> {
    if (!this.file) {
      // A stream that fails to open or to write is dropped, so the next event opens the file again.
      const opening: Promise<WriteStream> = openAppending(path, () => {
        if (this.file === opening) this.file = null;
      });
      this.file = opening;
    }
    const stream = await this.file;
    await new Promise<void>((resolve, reject) => {
      stream.write(line, (error) => (error ? reject(error) : resolve()));
    });
  }

  /** Closes the local file, if one was opened, once what was written to it is out. */
  async close(): Promise<void> {
    const file = this.file;
    this.file = null;
    const stream = await file?.catch(() => null);
    if (stream && !stream.destroyed) await new Promise<void>((resolve) => stream.end(resolve));
  }
}

/** O_APPEND: each write lands at the end of the file, whatever else appends to it. */
async function openAppending(path: string, onFailure: () => void): Promise<WriteStream> {
  try {
    await mkdir(dirname(path), { recursive: true });
    const stream = createWriteStream(path, { flags: 'a' });
    stream.on('error', onFailure);
    await once(stream, 'open');
    return stream;
  } catch (e) {
    onFailure();
    throw e;
  }
}
