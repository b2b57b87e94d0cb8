import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalAuditEventSource } from '../../functions/src/adapters/audit/localAuditEventSource.js';
import { BigQueryAuditEventSource } from '../../functions/src/adapters/bigquery/bigQueryAuditEventSource.js';
import { type CliContext, EXIT, isUsageError, runAuditCli } from '../../functions/src/cli/auditCli.js';
import { loadAuditCliConfig } from '../../functions/src/cli/auditCliConfig.js';
import type { CalibrationReport } from '../../functions/src/cli/calibrationReport.js';
import type { AuditEventSource } from '../../functions/src/core/audit/auditQuery.js';
import { collect } from '../../functions/src/core/audit/auditQuery.js';
import type { AuditEvent } from '../../functions/src/core/audit/events.js';
import { reviewOutcomes } from '../../functions/src/core/audit/reviewOutcomes.js';
import { chain, decisionWith, draft, reviewDraft } from '../support/auditEvents.js';
import { fakeBigQuery } from '../support/fakeBigQuery.js';

/**
 * What calibration reads from the audit trail, through both backends (the local file and BigQuery, a fake
 * that honours the query's parameters, with the exact SQL checked), and the `calibrate` command on top.
 */

const at = (minute: number) => new Date(Date.UTC(2026, 10, 27, 9, minute)).toISOString();
const range = { from: new Date(at(0)), to: new Date(at(60)) };

type Scored = {
  id: string;
  minute: number;
  confidence: number;
  withheld?: boolean;
  sampled?: boolean;
  decisions?: ('approve' | 'edit' | 'reject')[];
  task?: string;
  model?: string;
  scoreBasis?: string;
};

function scored(s: Scored): AuditEvent[] {
  const withheld = s.withheld ?? s.confidence < 0.8;
  const needsReview = withheld || s.sampled;
  return chain(
    draft({
      inferenceId: s.id,
      eventType: withheld ? 'inference.routed_to_review' : 'inference.completed',
      at: at(s.minute),
      task: s.task ?? 'medication-extraction',
      decision: decisionWith({
        status: withheld ? 'pending_review' : 'completed',
        httpStatus: withheld ? 202 : 200,
        confidence: s.confidence,
        sampledForReview: s.sampled ?? false,
        ...(s.model ? { model: s.model } : {}),
        ...(s.scoreBasis ? { scoreBasis: s.scoreBasis } : {}),
      }),
    }),
    ...(needsReview ? [reviewDraft(s.id, 'enqueued', { at: at(s.minute) })] : []),
    ...(s.decisions ?? []).flatMap((action, i) => [
      reviewDraft(s.id, 'claimed', { at: at(s.minute + 1 + i) }),
      reviewDraft(s.id, action, { at: at(s.minute + 1 + i) }),
    ]),
  );
}

function trail(): AuditEvent[] {
  return [
    ...scored({ id: 'inf_census_edit', minute: 1, confidence: 0.55, decisions: ['edit'] }),
    ...scored({ id: 'inf_census_ok', minute: 2, confidence: 0.62, decisions: ['approve'] }),
    ...scored({ id: 'inf_census_pending', minute: 3, confidence: 0.4 }),
    ...scored({
      id: 'inf_sampled_reject',
      minute: 4,
      confidence: 0.91,
      sampled: true,
      decisions: ['reject'],
    }),
    ...scored({ id: 'inf_sampled_ok', minute: 5, confidence: 0.97, sampled: true, decisions: ['approve'] }),
    ...scored({ id: 'inf_unsampled', minute: 6, confidence: 0.88 }),
    // Decided twice (a bug upstream): the last decision counts.
    ...scored({ id: 'inf_twice', minute: 7, confidence: 0.7, decisions: ['approve', 'edit'] }),
    // Decided within the range, scored before it: not an output of this range.
    ...chain(
      draft({
        inferenceId: 'inf_before',
        eventType: 'inference.routed_to_review',
        at: '2026-11-27T08:30:00.000Z',
      }),
      reviewDraft('inf_before', 'edit', { at: at(10) }),
    ),
    // Scored in the range, decided after it: counts, decision included.
    ...scored({ id: 'inf_late', minute: 59, confidence: 0.3, decisions: ['reject'] }),
    ...scored({ id: 'inf_invalid', minute: 8, confidence: 0, withheld: true, scoreBasis: 'invalid_output' }),
    ...scored({ id: 'inf_other_task', minute: 9, confidence: 0.95, task: 'icd10-suggestion' }),
    ...scored({ id: 'inf_other_model', minute: 11, confidence: 0.85, model: 'local-clinical-2' }),
  ];
}

const expected = [
  ['inf_census_edit', 'census', 'edit', 0.55],
  ['inf_census_ok', 'census', 'approve', 0.62],
  ['inf_census_pending', 'census', null, 0.4],
  ['inf_late', 'census', 'reject', 0.3],
  ['inf_other_model', 'none', null, 0.85],
  ['inf_sampled_ok', 'sampled', 'approve', 0.97],
  ['inf_sampled_reject', 'sampled', 'reject', 0.91],
  ['inf_twice', 'census', 'edit', 0.7],
  ['inf_unsampled', 'none', null, 0.88],
];

function sources(events: AuditEvent[]): Record<string, AuditEventSource> {
  const file = join(mkdtempSync(join(tmpdir(), 'calibration-')), 'audit.jsonl');
  writeFileSync(file, `${events.map((e) => JSON.stringify(e)).join('\n')}\n`);
  const table = {
    project: 'hospital-prod',
    dataset: 'clinical_ai_audit',
    table: 'run_googleapis_com_stdout',
  };
  return {
    local: new LocalAuditEventSource(file),
    bigquery: new BigQueryAuditEventSource(fakeBigQuery(events).runQuery, table),
  };
}

describe('calibration: reading reviewed outcomes from the audit trail', () => {
  for (const [backend, source] of Object.entries(sources(trail()))) {
    it(`${backend}: one outcome per output scored in the range, with its last decision`, async () => {
      const outcomes = await collect(reviewOutcomes(source, range, { task: 'medication-extraction' }));
      assert.deepEqual(
        outcomes.map((o) => [o.inferenceId, o.review, o.action, o.confidence]).sort(),
        expected,
      );
      const other = outcomes.find((o) => o.inferenceId === 'inf_other_model');
      assert.equal(other?.model, 'local-clinical-2');
      const first = outcomes[0]!;
      assert.deepEqual(
        [first.scorerVersion, first.promptTemplateVersion, first.threshold, first.at],
        ['geomean-logprob-v1', 'v1', 0.8, Date.parse(at(1))],
      );
    });
  }

  it('BigQuery: the range query reads the chains scored in the range, from the range start', async () => {
    const { runQuery, calls } = fakeBigQuery(trail());
    const source = new BigQueryAuditEventSource(runQuery, {
      project: 'hospital-prod',
      dataset: 'clinical_ai_audit',
      table: 'run_googleapis_com_stdout',
      location: 'EU',
    });
    await collect(reviewOutcomes(source, range));
    assert.deepEqual(calls, [
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
        params: { stream: 'clinical-ai-gateway-audit', since: range.from, from: range.from, to: range.to },
        types: { since: 'TIMESTAMP', from: 'TIMESTAMP', to: 'TIMESTAMP' },
        location: 'EU',
      },
    ]);
  });
});

describe('audit:calibrate', () => {
  const dir = mkdtempSync(join(tmpdir(), 'calibrate-cli-'));
  const file = join(dir, 'audit.jsonl');
  /** 400 outputs: census below 0.8 erring below 0.5, half of the confident ones sampled, all approved. */
  const events: AuditEvent[] = [];
  for (let i = 0; i < 400; i++) {
    const confidence = 0.2 + (0.6 * i) / 400;
    events.push(
      ...scored({
        id: `inf_${String(i).padStart(4, '0')}`,
        minute: 1 + (i % 50),
        confidence: Math.round(confidence * 1000) / 1000,
        decisions: [confidence < 0.5 && i % 2 === 0 ? 'reject' : 'approve'],
      }),
    );
  }
  for (let i = 0; i < 600; i++) {
    const sampled = i % 2 === 0;
    events.push(
      ...scored({
        id: `inf_c${String(i).padStart(4, '0')}`,
        minute: 1 + (i % 50),
        confidence: 0.8 + (0.19 * i) / 600,
        sampled,
        decisions: sampled ? ['approve'] : [],
      }),
    );
  }
  writeFileSync(file, `${events.map((e) => JSON.stringify(e)).join('\n')}\n`);

  const cli = async (argv: string[], source: AuditEventSource = new LocalAuditEventSource(file)) => {
    const out: string[] = [];
    const err: string[] = [];
    const ctx: CliContext = {
      config: loadAuditCliConfig({ AUDIT_BACKEND: 'local', AUDIT_LOG_FILE: file }),
      source,
      openLedger: () => {
        throw new Error('calibrate needs no ledger');
      },
      now: () => Date.parse(at(120)),
      io: { out: (l) => out.push(l), err: (l) => err.push(l) },
    };
    return { code: await runAuditCli(argv, ctx), out: out.join('\n'), err: err.join('\n') };
  };
  const window = ['--from', at(0), '--to', at(60)];

  it('recommends a threshold, as JSON and as a table, and draws the chart', async () => {
    const chart = join(dir, 'charts', 'calibration.svg');
    const json = await cli([
      'calibrate',
      '--task',
      'medication-extraction',
      ...window,
      '--json',
      '--chart',
      chart,
    ]);
    assert.equal(json.code, EXIT.ok, json.out);
    const report = JSON.parse(json.out) as CalibrationReport;
    assert.deepEqual(report.target, { alpha: 0.02, delta: 0.05 });
    assert.equal(report.groups.length, 1);
    const g = report.groups[0]!;
    assert.equal(g.outputs, 1000);
    assert.equal(g.sampleRate, 0.5);
    assert.equal(g.recommendation.kind, 'threshold');
    const threshold = g.recommendation.kind === 'threshold' ? g.recommendation.threshold : Number.NaN;
    // Half the outputs below 0.5 are errors, none above: the error rate above t first reaches 2 % near
    // t = 0.45, so the bound allows a threshold a little above that, well below the 0.8 in force.
    assert.ok(threshold >= 0.45 && threshold < 0.6, `recommended ${threshold}`);

    const svg = readFileSync(chart, 'utf8');
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.match(svg, new RegExp(`recommended ${threshold}<`));
    assert.match(svg, /current 0\.8</);

    const text = await cli(['calibrate', '--task', 'medication-extraction', ...window, '--alpha', '0.02']);
    assert.equal(text.code, EXIT.ok);
    assert.match(text.out, new RegExp(`recommended threshold ${threshold}:`));
    assert.match(text.out, /^ +0\.80 .* in force$/m);
  });

  it('says no threshold can be supported, and how many more reviews, when the target is out of reach', async () => {
    const { code, out } = await cli([
      'calibrate',
      '--task',
      'medication-extraction',
      ...window,
      '--alpha',
      '0.001',
      '--json',
    ]);
    assert.equal(code, EXIT.findings);
    const rec = (JSON.parse(out) as CalibrationReport).groups[0]!.recommendation;
    assert.equal(rec.kind, 'none');
    assert.ok(rec.kind === 'none' && rec.moreSampledReviewsNeeded! > 0);
  });

  it('the same report from BigQuery as from the local file', async () => {
    const bigquery = new BigQueryAuditEventSource(fakeBigQuery(events).runQuery, {
      project: 'p',
      dataset: 'd',
      table: 't',
    });
    const args = ['calibrate', '--task', 'medication-extraction', ...window, '--json'];
    assert.deepEqual((await cli(args, bigquery)).out, (await cli(args)).out);
  });

  it('an unknown task is a finding, not an error; bad options are usage errors', async () => {
    const none = await cli(['calibrate', '--task', 'no-such-task', ...window]);
    assert.equal(none.code, EXIT.findings);
    assert.match(none.out, /no scored outputs/);
    for (const argv of [
      ['calibrate', ...window],
      ['calibrate', '--task', 'medication-extraction', '--alpha', '0'],
      ['calibrate', '--task', 'medication-extraction', '--delta', '1'],
      ['calibrate', '--task', 'medication-extraction', '--alpha', 'two'],
    ]) {
      await assert.rejects(cli(argv), isUsageError, argv.join(' '));
    }
  });
});
