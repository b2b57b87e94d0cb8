import assert from 'node:assert/strict';
import {
  BigQueryAuditEventSource,
  type BigQueryQueryOptions,
  MAX_IDS_PER_QUERY,
  type RunQuery,
} from '../../functions/src/adapters/bigquery/bigQueryAuditEventSource.js';
import { collect } from '../../functions/src/core/audit/auditQuery.js';
import { chain, draft } from '../support/auditEvents.js';

/** Records the options of every query and answers with canned rows. */
function recorder(rows: Record<string, unknown>[] = []) {
  const calls: BigQueryQueryOptions[] = [];
  const runQuery: RunQuery = async function* (options) {
    calls.push(options);
    yield* rows;
  };
  return { calls, runQuery };
}

const table = { project: 'hospital-prod', dataset: 'clinical_ai_audit', table: 'run_googleapis_com_stdout' };
const from = new Date('2026-11-01T00:00:00Z');
const to = new Date('2026-11-02T00:00:00Z');
const since = new Date('2026-10-02T00:00:00Z');

describe('BigQuery audit source: the exact SQL and parameters it sends', () => {
  it('provenance: every event of one inference, in chain order, optionally from a time on', async () => {
    const { calls, runQuery } = recorder();
    const source = new BigQueryAuditEventSource(runQuery, { ...table, location: 'EU' });
    await collect(source.eventsOfInference('inf_abc'));
    await collect(source.eventsOfInference('inf_abc', since));
    assert.deepEqual(calls, [
      {
        query: `SELECT jsonPayload.audit_event AS event, jsonPayload.audit.hash AS index_hash, insertId AS insert_id
FROM \`hospital-prod.clinical_ai_audit.run_googleapis_com_stdout\`
WHERE labels.audit_stream = @stream
  AND jsonPayload.audit.inference_id = @inferenceId
ORDER BY jsonPayload.audit.sequence, timestamp`,
        params: { stream: 'clinical-ai-gateway-audit', inferenceId: 'inf_abc' },
        location: 'EU',
      },
      {
        query: `SELECT jsonPayload.audit_event AS event, jsonPayload.audit.hash AS index_hash, insertId AS insert_id
FROM \`hospital-prod.clinical_ai_audit.run_googleapis_com_stdout\`
WHERE labels.audit_stream = @stream
  AND jsonPayload.audit.inference_id = @inferenceId
  AND timestamp >= @since
ORDER BY jsonPayload.audit.sequence, timestamp`,
        params: { stream: 'clinical-ai-gateway-audit', inferenceId: 'inf_abc', since },
        types: { since: 'TIMESTAMP' },
        location: 'EU',
      },
    ]);
  });

  it('verification: the whole trail, or the chains a range touches, grouped by inference', async () => {
    const { calls, runQuery } = recorder();
    const source = new BigQueryAuditEventSource(runQuery, table);
    await collect(source.chains({ kind: 'all' }));
    await collect(source.chains({ kind: 'range', range: { from, to }, since }));
    assert.deepEqual(calls, [
      {
        query: `SELECT jsonPayload.audit_event AS event, jsonPayload.audit.hash AS index_hash, insertId AS insert_id
FROM \`hospital-prod.clinical_ai_audit.run_googleapis_com_stdout\`
WHERE labels.audit_stream = @stream
ORDER BY jsonPayload.audit.inference_id, jsonPayload.audit.sequence`,
        params: { stream: 'clinical-ai-gateway-audit' },
      },
      {
        query: `SELECT jsonPayload.audit_event AS event, jsonPayload.audit.hash AS index_hash, insertId AS insert_id
FROM \`hospital-prod.clinical_ai_audit.run_googleapis_com_stdout\`
WHERE labels.audit_stream = @stream
  AND timestamp >= @since
  AND (
    jsonPayload.audit.inference_id IN (
      SELECT jsonPayload.audit.inference_id
      FROM \`hospital-prod.clinical_ai_audit.run_googleapis_com_stdout\`
      WHERE labels.audit_stream = @stream
        AND timestamp >= @from AND timestamp < @to
        AND jsonPayload.audit.inference_id IS NOT NULL)
    OR (jsonPayload.audit.inference_id IS NULL AND timestamp >= @from AND timestamp < @to))
ORDER BY jsonPayload.audit.inference_id, jsonPayload.audit.sequence`,
        params: { stream: 'clinical-ai-gateway-audit', since, from, to },
        types: { since: 'TIMESTAMP', from: 'TIMESTAMP', to: 'TIMESTAMP' },
      },
    ]);
  });

  it('index rows of a time range, all types or some', async () => {
    const { calls, runQuery } = recorder();
    const source = new BigQueryAuditEventSource(runQuery, table);
    await collect(source.indexBetween({ from, to }));
    await collect(source.indexBetween({ from, to }, ['review.decided']));
    assert.deepEqual(calls, [
      {
        query: `SELECT jsonPayload.audit AS audit
FROM \`hospital-prod.clinical_ai_audit.run_googleapis_com_stdout\`
WHERE labels.audit_stream = @stream
  AND timestamp >= @from AND timestamp < @to`,
        params: { stream: 'clinical-ai-gateway-audit', from, to },
        types: { from: 'TIMESTAMP', to: 'TIMESTAMP' },
      },
      {
        query: `SELECT jsonPayload.audit AS audit
FROM \`hospital-prod.clinical_ai_audit.run_googleapis_com_stdout\`
WHERE labels.audit_stream = @stream
  AND timestamp >= @from AND timestamp < @to
  AND jsonPayload.audit.event_type IN UNNEST(@eventTypes)`,
        params: { stream: 'clinical-ai-gateway-audit', from, to, eventTypes: ['review.decided'] },
        types: { from: 'TIMESTAMP', to: 'TIMESTAMP', eventTypes: ['STRING'] },
      },
    ]);
  });

  it('index rows of many inferences: an array parameter, split so no query grows too large', async () => {
    const { calls, runQuery } = recorder();
    const source = new BigQueryAuditEventSource(runQuery, table);
    const ids = Array.from({ length: MAX_IDS_PER_QUERY + 1 }, (_, i) => `inf_${i}`);
    await collect(source.indexOfInferences(ids, since, ['inference.routed_to_review']));
    await collect(source.indexOfInferences([], since));
    const query = `SELECT jsonPayload.audit AS audit
FROM \`hospital-prod.clinical_ai_audit.run_googleapis_com_stdout\`
WHERE labels.audit_stream = @stream
  AND timestamp >= @since
  AND jsonPayload.audit.inference_id IN UNNEST(@inferenceIds)
  AND jsonPayload.audit.event_type IN UNNEST(@eventTypes)`;
    const types = { since: 'TIMESTAMP', inferenceIds: ['STRING'], eventTypes: ['STRING'] };
    assert.deepEqual(calls, [
      {
        query,
        params: {
          stream: 'clinical-ai-gateway-audit',
          since,
          inferenceIds: ids.slice(0, MAX_IDS_PER_QUERY),
          eventTypes: ['inference.routed_to_review'],
        },
        types,
      },
      {
        query,
        params: {
          stream: 'clinical-ai-gateway-audit',
          since,
          inferenceIds: ids.slice(MAX_IDS_PER_QUERY),
          eventTypes: ['inference.routed_to_review'],
        },
        types,
      },
    ]);
  });

  it('turns rows into records and index rows: JSON text parsed, NULL columns left out', async () => {
    const [event] = chain(draft({ inferenceId: 'inf_rows' }));
    const eventRows = recorder([
      { event: JSON.stringify(event), index_hash: event!.hash, insert_id: event!.eventId },
      { event: '{"truncated', insert_id: 'x1' },
      { event: null, insert_id: 'x2' },
    ]);
    const records = await collect(
      new BigQueryAuditEventSource(eventRows.runQuery, table).eventsOfInference('inf_rows'),
    );
    assert.deepEqual(records, [
      {
        ok: true,
        event: JSON.parse(JSON.stringify(event)),
        indexHash: event!.hash,
        origin: `insertId ${event!.eventId}`,
      },
      { ok: false, error: 'not valid JSON', origin: 'insertId x1' },
      { ok: false, error: 'entry has no audit_event', origin: 'insertId x2' },
    ]);

    const indexRows = recorder([
      { audit: { event_id: 'e1', inference_id: 'inf_rows', sequence: 1, reviewer: null } },
    ]);
    const index = await collect(
      new BigQueryAuditEventSource(indexRows.runQuery, table).indexBetween({ from, to }),
    );
    assert.deepEqual(index, [{ event_id: 'e1', inference_id: 'inf_rows', sequence: 1 }]);
  });

  it('refuses table names that could change the query', () => {
    const { runQuery } = recorder();
    assert.throws(
      () => new BigQueryAuditEventSource(runQuery, { ...table, table: 'x` WHERE true --' }),
      /invalid BigQuery table name/,
    );
    assert.throws(
      () => new BigQueryAuditEventSource(runQuery, { ...table, dataset: 'a.b' }),
      /invalid BigQuery dataset/,
    );
  });
});
