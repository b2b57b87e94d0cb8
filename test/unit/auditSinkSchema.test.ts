import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { auditLogEntry } from '../../functions/src/adapters/audit/auditLogEntry.js';
import {
  BigQueryAuditEventSource,
  type BigQueryQueryOptions,
} from '../../functions/src/adapters/bigquery/bigQueryAuditEventSource.js';
import { auditIndexColumns } from '../../functions/src/core/audit/auditIndex.js';
import { collect } from '../../functions/src/core/audit/auditQuery.js';
import type { AuditEvent } from '../../functions/src/core/audit/events.js';
import { breakerEvent, chain, decisionWith, draft, reviewDraft } from '../support/auditEvents.js';
import { fakeBigQuery } from '../support/fakeBigQuery.js';

/**
 * The versioned table schema (terraform/schemas/audit_events_v1.json) must be what the Cloud Logging sink
 * really makes of our entries, and the adapter's SQL must only name columns it has. The sink's rules, from
 * Cloud Logging's "BigQuery schema for logs": the logging agent moves the special keys of a stdout JSON line
 * into LogEntry fields (severity, time → timestamp, labels, insertId, trace); LogEntry fields keep their
 * names; payload and label keys are lower-cased, characters other than letters, digits and underscore become
 * underscores and leading underscores are dropped; JSON numbers arrive as doubles (FLOAT).
 */

type Column = { name: string; type: string; mode?: string; fields?: Column[] };
const schema = JSON.parse(
  readFileSync(new URL('../../terraform/schemas/audit_events_v1.json', import.meta.url), 'utf8'),
) as Column[];

function schemaColumns(columns: Column[], prefix = ''): Map<string, string> {
  const all = new Map<string, string>();
  for (const c of columns) {
    all.set(`${prefix}${c.name}`, c.type);
    if (c.fields) for (const [k, v] of schemaColumns(c.fields, `${prefix}${c.name}.`)) all.set(k, v);
  }
  return all;
}

const sinkName = (key: string) =>
  key
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .replace(/^_+/, '');

function bigQueryType(value: unknown): string {
  if (typeof value === 'string') return 'STRING';
  if (typeof value === 'number') return 'FLOAT';
  if (typeof value === 'boolean') return 'BOOLEAN';
  if (value && typeof value === 'object' && !Array.isArray(value)) return 'RECORD';
  throw new Error(
    `a ${Array.isArray(value) ? 'list' : typeof value} in an audit entry makes an unstable column`,
  );
}

function payloadColumns(value: Record<string, unknown>, prefix: string): Map<string, string> {
  const columns = new Map<string, string>();
  for (const [key, v] of Object.entries(value)) {
    if (v === null || v === undefined) continue;
    const name = `${prefix}${sinkName(key)}`;
    columns.set(name, bigQueryType(v));
    if (bigQueryType(v) === 'RECORD') {
      for (const [k, t] of payloadColumns(v as Record<string, unknown>, `${name}.`)) columns.set(k, t);
    }
  }
  return columns;
}

/** The BigQuery columns one stdout line turns into. */
function sinkColumns(line: Record<string, unknown>): Map<string, string> {
  const {
    severity,
    time,
    'logging.googleapis.com/labels': labels,
    'logging.googleapis.com/insertId': insertId,
    'logging.googleapis.com/trace': trace,
    ...payload
  } = line;
  const columns = new Map<string, string>([
    ['timestamp', 'TIMESTAMP'],
    ['receiveTimestamp', 'TIMESTAMP'],
    ['logName', 'STRING'],
  ]);
  assert.equal(typeof severity, 'string');
  assert.equal(typeof time, 'string');
  columns.set('severity', 'STRING');
  if (insertId !== undefined) columns.set('insertId', 'STRING');
  if (trace !== undefined) columns.set('trace', 'STRING');
  columns.set('labels', 'RECORD');
  for (const [k, t] of payloadColumns(labels as Record<string, unknown>, 'labels.')) columns.set(k, t);
  columns.set('jsonPayload', 'RECORD');
  for (const [k, t] of payloadColumns(payload, 'jsonPayload.')) columns.set(k, t);
  return columns;
}

function everyKindOfEvent(): AuditEvent[] {
  const review = chain(
    draft({
      inferenceId: 'inf_r',
      eventType: 'inference.routed_to_review',
      trace: '0af7651916cd43dd8448eb211c80319c',
    }),
    reviewDraft('inf_r', 'enqueued'),
    reviewDraft('inf_r', 'claimed'),
    reviewDraft('inf_r', 'edit'),
    reviewDraft('inf_r', 'escalated'),
  );
  const failed = chain(
    draft({
      inferenceId: 'inf_f',
      eventType: 'inference.failed',
      decision: decisionWith({
        status: 'failed',
        httpStatus: null,
        response: null,
        confidence: null,
        threshold: null,
        failureReason: 'providers_unavailable',
        routing: {
          attempts: [
            {
              provider: 'local-a',
              model: 'm',
              breakerState: 'closed',
              outcome: 'failure',
              failureKind: 'http_5xx',
              latencyMs: 3,
            },
          ],
          fallbackTaken: true,
        },
      }),
    }),
  );
  // An invalid model output is arbitrary JSON: a string here, where other events hold an object.
  const oddResponse = chain(
    draft({ inferenceId: 'inf_o', decision: decisionWith({ response: 'not an object' }) }),
  );
  return [...review, ...failed, ...oddResponse, breakerEvent()];
}

describe('audit entries and the versioned BigQuery schema', () => {
  const columns = schemaColumns(schema);

  it('every column the sink makes of any kind of audit entry is in the schema, with the same type', () => {
    for (const event of everyKindOfEvent()) {
      const line = auditLogEntry(event, JSON.stringify(event), 'hospital-prod');
      for (const [name, type] of sinkColumns(line)) {
        assert.equal(
          columns.get(name),
          type,
          `${event.eventType}: column ${name} should be ${type} in the schema`,
        );
      }
    }
  });

  it('the schema documents exactly the index the code writes, with the same types', () => {
    const documented = new Map([...columns].filter(([name]) => name.startsWith('jsonPayload.audit.')));
    const written = new Map(Object.entries(auditIndexColumns).map(([k, t]) => [`jsonPayload.audit.${k}`, t]));
    assert.deepEqual(documented, written);
  });

  it('clinical content is only in the event text: the index never carries a response', () => {
    for (const event of everyKindOfEvent()) {
      const line = auditLogEntry(event, JSON.stringify(event), 'p');
      assert.doesNotMatch(JSON.stringify(line.audit), /metformin|not an object/);
    }
  });

  it('every column the adapter SQL names exists in the schema', async () => {
    const { runQuery, calls } = fakeBigQuery([]);
    const source = new BigQueryAuditEventSource(runQuery, { project: 'p', dataset: 'd', table: 't' });
    const range = { from: new Date(0), to: new Date(1) };
    await collect(source.eventsOfInference('i', new Date(0)));
    await collect(source.chains({ kind: 'all' }));
    await collect(source.chains({ kind: 'range', range, since: new Date(0) }));
    await collect(source.indexBetween(range, ['review.decided']));
    await collect(source.indexOfInferences(['i'], new Date(0), ['review.decided']));
    const named = new Set(
      calls.flatMap(
        (c: BigQueryQueryOptions) =>
          c.query.match(/\b(jsonPayload(\.\w+)+|labels\.\w+|insertId|timestamp)\b/g) ?? [],
      ),
    );
    assert.ok(named.size >= 8);
    for (const name of named)
      assert.ok(columns.has(name), `the SQL names ${name}, which the schema does not have`);
  });
});
