import type { BigQuery } from '@google-cloud/bigquery';
import type { AuditIndex } from '../../core/audit/auditIndex.js';
import {
  type AuditEventSource,
  type AuditRecord,
  parseRecord,
  type TimeRange,
  type VerificationScope,
} from '../../core/audit/auditQuery.js';
import { AUDIT_LABEL, type AuditEventType } from '../../core/audit/events.js';

/**
 * The audit trail in BigQuery, as the Cloud Logging sink writes it (terraform/schemas/audit_events_v1.md):
 * one table named after the log (`run_googleapis_com_stdout` for a gen2 function's stdout), partitioned by
 * the entry's `timestamp`, the audit label in `labels.audit_stream`, the event's index in
 * `jsonPayload.audit.*` and the event's JSON text in `jsonPayload.audit_event`.
 *
 * Queries select the index struct as a whole and the JSON text, and filter only on columns every audit
 * entry has, so they work on a table the sink created itself (whose columns appear only once some entry
 * has had them) as well as on one created from the versioned schema. Every query bounds `timestamp` when
 * it can, so BigQuery reads only the partitions it needs; only whole-trail verification and provenance
 * without `--since` read them all.
 */

export type BigQueryQueryOptions = {
  query: string;
  params: Record<string, unknown>;
  types?: Record<string, string | string[]>;
  location?: string;
};

/** Runs a query and streams its rows: in production `BigQuery#createQueryStream`; tests inject a fake. */
export type RunQuery = (options: BigQueryQueryOptions) => AsyncIterable<Record<string, unknown>>;

export const runQueryWith =
  (bigquery: BigQuery): RunQuery =>
  (options) =>
    bigquery.createQueryStream(options);

export type BigQueryAuditTable = { project: string; dataset: string; table: string; location?: string };

/** Array parameters stay well under BigQuery's query size limit (ids are about 26 bytes). */
export const MAX_IDS_PER_QUERY = 10_000;

const identifier = {
  project: /^[a-z0-9.:-]{1,128}$/,
  dataset: /^[A-Za-z0-9_]{1,1024}$/,
  table: /^[A-Za-z0-9_-]{1,1024}$/,
};

export class BigQueryAuditEventSource implements AuditEventSource {
  private readonly from: string;

  constructor(
    private readonly runQuery: RunQuery,
    private readonly target: BigQueryAuditTable,
  ) {
    // Table names cannot be query parameters; they are checked here so they can be spliced in safely.
    for (const part of ['project', 'dataset', 'table'] as const) {
      if (!identifier[part].test(target[part]))
        throw new RangeError(`invalid BigQuery ${part} name: ${target[part]}`);
    }
    this.from = `\`${target.project}.${target.dataset}.${target.table}\``;
  }

  async *eventsOfInference(inferenceId: string, since?: Date): AsyncIterable<AuditRecord> {
    yield* this.records(
      `SELECT jsonPayload.audit_event AS event, jsonPayload.audit.hash AS index_hash, insertId AS insert_id
FROM ${this.from}
WHERE labels.audit_stream = @stream
  AND jsonPayload.audit.inference_id = @inferenceId${since ? '\n  AND timestamp >= @since' : ''}
ORDER BY jsonPayload.audit.sequence, timestamp`,
      { stream: AUDIT_LABEL.value, inferenceId, ...(since ? { since } : {}) },
      since ? { since: 'TIMESTAMP' } : undefined,
    );
  }

  async *chains(scope: VerificationScope): AsyncIterable<AuditRecord> {
    const select = `SELECT jsonPayload.audit_event AS event, jsonPayload.audit.hash AS index_hash, insertId AS insert_id
FROM ${this.from}`;
    const order = 'ORDER BY jsonPayload.audit.inference_id, jsonPayload.audit.sequence';
    if (scope.kind === 'all') {
      yield* this.records(`${select}\nWHERE labels.audit_stream = @stream\n${order}`, {
        stream: AUDIT_LABEL.value,
      });
      return;
    }
    yield* this.records(
      `${select}
WHERE labels.audit_stream = @stream
  AND timestamp >= @since
  AND (
    jsonPayload.audit.inference_id IN (
      SELECT jsonPayload.audit.inference_id
      FROM ${this.from}
      WHERE labels.audit_stream = @stream
        AND timestamp >= @from AND timestamp < @to
        AND jsonPayload.audit.inference_id IS NOT NULL)
    OR (jsonPayload.audit.inference_id IS NULL AND timestamp >= @from AND timestamp < @to))
${order}`,
      { stream: AUDIT_LABEL.value, since: scope.since, from: scope.range.from, to: scope.range.to },
      { since: 'TIMESTAMP', from: 'TIMESTAMP', to: 'TIMESTAMP' },
    );
  }

  async *indexBetween(range: TimeRange, eventTypes?: readonly AuditEventType[]): AsyncIterable<AuditIndex> {
    yield* this.index(
      `SELECT jsonPayload.audit AS audit
FROM ${this.from}
WHERE labels.audit_stream = @stream
  AND timestamp >= @from AND timestamp < @to${eventTypes ? '\n  AND jsonPayload.audit.event_type IN UNNEST(@eventTypes)' : ''}`,
      {
        stream: AUDIT_LABEL.value,
        from: range.from,
        to: range.to,
        ...(eventTypes ? { eventTypes: [...eventTypes] } : {}),
      },
      { from: 'TIMESTAMP', to: 'TIMESTAMP', ...(eventTypes ? { eventTypes: ['STRING'] } : {}) },
    );
  }

  async *indexOfInferences(
    inferenceIds: readonly string[],
    since: Date,
    eventTypes?: readonly AuditEventType[],
  ): AsyncIterable<AuditIndex> {
    for (let i = 0; i < inferenceIds.length; i += MAX_IDS_PER_QUERY) {
      yield* this.index(
        `SELECT jsonPayload.audit AS audit
FROM ${this.from}
WHERE labels.audit_stream = @stream
  AND timestamp >= @since
  AND jsonPayload.audit.inference_id IN UNNEST(@inferenceIds)${eventTypes ? '\n  AND jsonPayload.audit.event_type IN UNNEST(@eventTypes)' : ''}`,
        {
          stream: AUDIT_LABEL.value,
          since,
          inferenceIds: inferenceIds.slice(i, i + MAX_IDS_PER_QUERY),
          ...(eventTypes ? { eventTypes: [...eventTypes] } : {}),
        },
        { since: 'TIMESTAMP', inferenceIds: ['STRING'], ...(eventTypes ? { eventTypes: ['STRING'] } : {}) },
      );
    }
  }

  private async *records(
    query: string,
    params: Record<string, unknown>,
    types?: Record<string, string | string[]>,
  ): AsyncIterable<AuditRecord> {
    for await (const row of this.runQuery(this.options(query, params, types))) {
      const origin = `insertId ${String(row.insert_id ?? '(none)')}`;
      if (typeof row.event !== 'string') {
        yield { ok: false, error: 'entry has no audit_event', origin };
        continue;
      }
      const record = parseRecord(row.event, origin);
      // The entry keeps the hash twice (index and event): the verifier checks that both copies agree.
      yield record.ok
        ? { ...record, indexHash: typeof row.index_hash === 'string' ? row.index_hash : null }
        : record;
    }
  }

  private async *index(
    query: string,
    params: Record<string, unknown>,
    types: Record<string, string | string[]>,
  ): AsyncIterable<AuditIndex> {
    for await (const row of this.runQuery(this.options(query, params, types))) {
      const audit = row.audit;
      if (typeof audit !== 'object' || audit === null) continue;
      // Columns the table has but this entry did not set come back as NULL: absent, as in the index.
      yield Object.fromEntries(
        Object.entries(audit).filter(([, v]) => v !== null && v !== undefined),
      ) as AuditIndex;
    }
  }

  private options(
    query: string,
    params: Record<string, unknown>,
    types?: Record<string, string | string[]>,
  ): BigQueryQueryOptions {
    return {
      query,
      params,
      ...(types ? { types } : {}),
      ...(this.target.location ? { location: this.target.location } : {}),
    };
  }
}
