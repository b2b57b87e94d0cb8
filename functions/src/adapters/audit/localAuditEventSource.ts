import { readFile } from 'node:fs/promises';
import { type AuditIndex, indexOf } from '../../core/audit/auditIndex.js';
import {
  type AuditEventSource,
  type AuditRecord,
  parseRecord,
  type TimeRange,
  type VerificationScope,
} from '../../core/audit/auditQuery.js';
import { type AuditEvent, type AuditEventType, auditEventSchema } from '../../core/audit/events.js';

/**
 * The audit trail of a local run: the JSON-lines file the gateway appends to (`AUDIT_LOG_FILE`). Answers
 * the same questions as the BigQuery source, by reading the whole file: local files are small. A line is
 * "emitted at" its event's `timestamp`, as a BigQuery row is at its entry's timestamp.
 */
export class LocalAuditEventSource implements AuditEventSource {
  constructor(private readonly file: string) {}

  async *eventsOfInference(inferenceId: string, since?: Date): AsyncIterable<AuditRecord> {
    const records = (await this.read()).filter(
      (r) => r.ok && r.event.inferenceId === inferenceId && (!since || emittedAt(r) >= since.getTime()),
    );
    yield* records.sort((a, b) => sequenceOf(a) - sequenceOf(b));
  }

  async *chains(scope: VerificationScope): AsyncIterable<AuditRecord> {
    let records = await this.read();
    if (scope.kind === 'range') {
      const inRange = (r: AuditRecord) => within(emittedAt(r), scope.range);
      const touched = new Set(records.filter(inRange).map(inferenceIdOf));
      records = records.filter((r) => {
        const id = inferenceIdOf(r);
        return id === null ? inRange(r) : touched.has(id) && emittedAt(r) >= scope.since.getTime();
      });
    }
    // Grouped by inference as BigQuery's ORDER BY inference_id, sequence delivers them: no inference first.
    yield* records.sort(
      (a, b) => compareIds(inferenceIdOf(a), inferenceIdOf(b)) || sequenceOf(a) - sequenceOf(b),
    );
  }

  async *indexBetween(range: TimeRange, eventTypes?: readonly AuditEventType[]): AsyncIterable<AuditIndex> {
    for (const event of await this.validEvents()) {
      if (!within(Date.parse(event.timestamp), range)) continue;
      if (eventTypes && !eventTypes.includes(event.eventType)) continue;
      yield indexOf(event);
    }
  }

  async *indexOfInferences(
    inferenceIds: readonly string[],
    since: Date,
    eventTypes?: readonly AuditEventType[],
  ): AsyncIterable<AuditIndex> {
    const wanted = new Set(inferenceIds);
    for (const event of await this.validEvents()) {
      if (event.inferenceId === null || !wanted.has(event.inferenceId)) continue;
      if (Date.parse(event.timestamp) < since.getTime()) continue;
      if (eventTypes && !eventTypes.includes(event.eventType)) continue;
      yield indexOf(event);
    }
  }

  /** Every line as stored; a missing file is an empty trail (nothing has run yet). */
  private async read(): Promise<AuditRecord[]> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const records: AuditRecord[] = [];
    text.split('\n').forEach((line, i) => {
      if (line.trim() !== '') records.push(parseRecord(line, `line ${i + 1}`));
    });
    return records;
  }

  /** Index queries see only events that pass the schema; the verifier reports the others. */
  private async validEvents(): Promise<AuditEvent[]> {
    return (await this.read()).flatMap((r) => {
      if (!r.ok) return [];
      const parsed = auditEventSchema.safeParse(r.event);
      return parsed.success ? [r.event as AuditEvent] : [];
    });
  }
}

const inferenceIdOf = (r: AuditRecord): string | null =>
  r.ok && typeof r.event.inferenceId === 'string' ? r.event.inferenceId : null;
const sequenceOf = (r: AuditRecord): number =>
  r.ok && typeof r.event.sequence === 'number' ? r.event.sequence : 0;
const emittedAt = (r: AuditRecord): number =>
  r.ok && typeof r.event.timestamp === 'string' ? Date.parse(r.event.timestamp) : Number.NaN;
const within = (time: number, range: TimeRange) => time >= range.from.getTime() && time < range.to.getTime();

/** Like BigQuery's ORDER BY on a STRING column: NULL first, then by code unit (ids are ASCII). */
function compareIds(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  return a < b ? -1 : 1;
}
