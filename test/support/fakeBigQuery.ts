import type {
  BigQueryQueryOptions,
  RunQuery,
} from '../../functions/src/adapters/bigquery/bigQueryAuditEventSource.js';
import { auditIndexColumns, indexOf } from '../../functions/src/core/audit/auditIndex.js';
import type { AuditEvent } from '../../functions/src/core/audit/events.js';

/**
 * A stand-in for BigQuery holding audit entries as the log sink writes them. It records every query's
 * options (for tests that assert the exact SQL and parameters) and answers by applying the query's named
 * parameters the way the adapter's SQL declares them, returning rows shaped as the client library returns
 * them: `jsonPayload.audit` as a struct with every column (NULL where the entry had none), or the event's
 * JSON text with the entry's insertId.
 */
export function fakeBigQuery(events: readonly AuditEvent[]): {
  runQuery: RunQuery;
  calls: BigQueryQueryOptions[];
} {
  const calls: BigQueryQueryOptions[] = [];
  const runQuery: RunQuery = async function* (options) {
    calls.push(options);
    const p = options.params as {
      inferenceId?: string;
      inferenceIds?: string[];
      eventTypes?: string[];
      since?: Date;
      from?: Date;
      to?: Date;
    };
    const at = (e: AuditEvent) => Date.parse(e.timestamp);
    const inRange = (e: AuditEvent) =>
      !!p.from && !!p.to && at(e) >= p.from.getTime() && at(e) < p.to.getTime();
    let rows = [...events];
    if (p.inferenceId !== undefined) rows = rows.filter((e) => e.inferenceId === p.inferenceId);
    if (p.inferenceIds)
      rows = rows.filter((e) => e.inferenceId !== null && p.inferenceIds!.includes(e.inferenceId));
    if (p.eventTypes) rows = rows.filter((e) => p.eventTypes!.includes(e.eventType));
    if (p.since && p.from) {
      // Verification of a range: the chains touched by the range, from `since` on, and standalone events in it.
      const touched = new Set(events.filter(inRange).map((e) => e.inferenceId));
      rows = rows.filter((e) =>
        e.inferenceId === null ? inRange(e) : touched.has(e.inferenceId) && at(e) >= p.since!.getTime(),
      );
    } else if (p.since) {
      rows = rows.filter((e) => at(e) >= p.since!.getTime());
    } else if (p.from) {
      rows = rows.filter(inRange);
    }
    if (/ORDER BY jsonPayload\.audit\.inference_id/.test(options.query)) {
      rows.sort(
        (a, b) => compareNullsFirst(a.inferenceId, b.inferenceId) || (a.sequence ?? -1) - (b.sequence ?? -1),
      );
    } else if (/ORDER BY jsonPayload\.audit\.sequence/.test(options.query)) {
      rows.sort((a, b) => (a.sequence ?? -1) - (b.sequence ?? -1) || at(a) - at(b));
    }
    for (const e of rows) {
      if (options.query.startsWith('SELECT jsonPayload.audit AS audit')) {
        const index: Record<string, unknown> = indexOf(e);
        yield { audit: Object.fromEntries(Object.keys(auditIndexColumns).map((k) => [k, index[k] ?? null])) };
      } else {
        yield { event: JSON.stringify(e), index_hash: indexOf(e).hash ?? null, insert_id: e.eventId };
      }
    }
  };
  return { runQuery, calls };
}

function compareNullsFirst(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  return a < b ? -1 : 1;
}
