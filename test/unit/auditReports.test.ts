import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalAuditEventSource } from '../../functions/src/adapters/audit/localAuditEventSource.js';
import { BigQueryAuditEventSource } from '../../functions/src/adapters/bigquery/bigQueryAuditEventSource.js';
import { agreementReport } from '../../functions/src/core/audit/agreement.js';
import type { AuditEventSource, AuditRecord } from '../../functions/src/core/audit/auditQuery.js';
import { headOf } from '../../functions/src/core/audit/chain.js';
import { verifyChains } from '../../functions/src/core/audit/chainVerifier.js';
import {
  checkCompleteness,
  type DecisionLedger,
  type LedgerDecision,
  missingAudit,
} from '../../functions/src/core/audit/completeness.js';
import type { AuditEvent } from '../../functions/src/core/audit/events.js';
import { provenanceOf } from '../../functions/src/core/audit/provenance.js';
import {
  breakerEvent,
  chain,
  decisionWith,
  devChainKeys,
  draft,
  reviewDraft,
} from '../support/auditEvents.js';
import { fakeBigQuery } from '../support/fakeBigQuery.js';

/**
 * Provenance, verification, completeness and reviewer agreement, each run on the same audit trail through
 * both implementations of the query interface: the local file and BigQuery (a fake that honours the
 * query parameters). Both must give the same answers.
 */

const at = (minute: number) => new Date(Date.UTC(2026, 10, 27, 9, minute)).toISOString();

/** inf_1 confident; inf_2..inf_5 reviewed (approve, approve, edit, reject); inf_6 pending; plus a breaker. */
function trail(): { events: AuditEvent[]; decisions: LedgerDecision[] } {
  const completed = chain(
    draft({ inferenceId: 'inf_1', at: at(0) }),
    draft({
      inferenceId: 'inf_1',
      eventType: 'inference.replayed',
      at: at(1),
      decision: decisionWith({ status: 'replayed', response: null }),
    }),
  );
  const reviewed = (id: string, confidence: number, action: 'approve' | 'edit' | 'reject', minute: number) =>
    chain(
      draft({
        inferenceId: id,
        eventType: 'inference.routed_to_review',
        at: at(minute),
        decision: decisionWith({ status: 'pending_review', httpStatus: 202, confidence }),
      }),
      reviewDraft(id, 'enqueued', { at: at(minute) }),
      reviewDraft(id, 'claimed', { at: at(minute + 1) }),
      reviewDraft(id, action, { at: at(minute + 2) }),
    );
  const r2 = reviewed('inf_2', 0.72, 'approve', 2);
  const r3 = reviewed('inf_3', 0.75, 'approve', 4);
  const r4 = reviewed('inf_4', 0.71, 'edit', 6);
  const r5 = reviewed('inf_5', 0.42, 'reject', 8);
  const pending = chain(
    draft({
      inferenceId: 'inf_6',
      eventType: 'inference.routed_to_review',
      at: at(10),
      decision: decisionWith({ status: 'pending_review', httpStatus: 202, confidence: 0.3 }),
    }),
  );
  const events = [...completed, ...r2, ...r3, ...r4, ...r5, ...pending, breakerEvent(at(11))];
  const decision = (
    chainEvents: AuditEvent[],
    status: LedgerDecision['status'],
    reviewState: LedgerDecision['reviewState'],
  ): LedgerDecision => ({
    inferenceId: chainEvents[0]!.inferenceId!,
    tenant: 'acme',
    status,
    createdAt: new Date(chainEvents[0]!.timestamp),
    reviewState,
    sampledForReview: false,
    auditHead: headOf(chainEvents[chainEvents.length - 1]!),
  });
  return {
    events,
    decisions: [
      decision(completed, 'completed', null),
      decision(r2, 'completed', 'approved'),
      decision(r3, 'completed', 'approved'),
      decision(r4, 'completed', 'edited'),
      decision(r5, 'rejected', 'rejected'),
      decision(pending, 'pending_review', 'pending'),
    ],
  };
}

function sources(events: readonly AuditEvent[]): [string, AuditEventSource][] {
  const file = join(mkdtempSync(join(tmpdir(), 'audit-')), 'audit.jsonl');
  writeFileSync(file, events.map((e) => `${JSON.stringify(e)}\n`).join(''));
  const { runQuery } = fakeBigQuery(events);
  return [
    ['local file', new LocalAuditEventSource(file)],
    ['BigQuery', new BigQueryAuditEventSource(runQuery, { project: 'p', dataset: 'd', table: 't' })],
  ];
}

const ledgerOf = (decisions: LedgerDecision[]): DecisionLedger => ({
  async *decisionsCreatedBetween(range) {
    yield decisions.filter((d) => d.createdAt >= range.from && d.createdAt < range.to);
  },
});

const day = { from: new Date('2026-11-27T00:00:00Z'), to: new Date('2026-11-28T00:00:00Z') };
const withoutOrigin = (records: AuditRecord[]) => records.map((r) => (r.ok ? r.event : r.error));

describe('audit reports, on the local file and on BigQuery alike', () => {
  const { events, decisions } = trail();

  for (const [name, source] of sources(events)) {
    describe(name, () => {
      it('provenance: one inference, in chain order, verified', async () => {
        const p = await provenanceOf(source, 'inf_4', devChainKeys);
        assert.deepEqual(
          withoutOrigin(p.records).map((e) => (e as AuditEvent).eventType),
          ['inference.routed_to_review', 'review.enqueued', 'review.claimed', 'review.decided'],
        );
        assert.deepEqual(p.verification.problems, []);
        assert.equal(p.verification.chains, 1);
      });

      it('verification: the whole trail, and the chains a time range touches', async () => {
        const all = await verifyChains(source.chains({ kind: 'all' }), devChainKeys);
        assert.deepEqual(all.problems, []);
        assert.deepEqual([all.chains, all.events, all.standalone], [6, 20, 1]);
        const range = { from: new Date(at(9)), to: new Date(at(10)) };
        const some = await verifyChains(
          source.chains({ kind: 'range', range, since: day.from }),
          devChainKeys,
        );
        // Only inf_5 has an event in [09:09, 09:10) (its claim); its whole chain is read, from `since` on.
        assert.deepEqual([some.chains, some.events, some.problems.length], [1, 4, 0]);
      });

      it('completeness: every decision accounted for', async () => {
        const report = await checkCompleteness(ledgerOf(decisions), source, day);
        assert.deepEqual([report.decisionsChecked, report.incomplete], [6, []]);
      });

      it('completeness: lists a decision whose review decision and chain tail are missing', async () => {
        const withoutDecided = events.filter(
          (e) => !(e.inferenceId === 'inf_4' && e.eventType === 'review.decided'),
        );
        const [, thinned] = sources(withoutDecided).find(([n]) => n === name)!;
        const report = await checkCompleteness(ledgerOf(decisions), thinned, day);
        assert.deepEqual(
          report.incomplete.map((d) => [d.inferenceId, d.missing]),
          [
            [
              'inf_4',
              [
                { kind: 'event', eventType: 'review.decided' },
                { kind: 'sequence', from: 4, to: 4 },
              ],
            ],
          ],
        );
      });

      it('reviewer agreement by task, model and confidence band', async () => {
        const report = await agreementReport(source, day, { bandWidth: 0.1, since: day.from });
        assert.deepEqual(
          report.rows.map((r) => [
            r.task,
            r.model,
            r.band.low,
            r.band.high,
            r.reviewed,
            r.approved,
            r.edited,
            r.rejected,
            r.thresholds,
          ]),
          [
            ['medication-extraction', 'local-clinical-1', 0.4, 0.5, 1, 0, 0, 1, [0.8]],
            ['medication-extraction', 'local-clinical-1', 0.7, 0.8, 3, 2, 1, 0, [0.8]],
          ],
        );
        assert.deepEqual(report.totals, [
          {
            task: 'medication-extraction',
            model: 'local-clinical-1',
            reviewed: 4,
            approved: 2,
            edited: 1,
            rejected: 1,
          },
        ]);
        assert.equal(report.unmatchedDecisions, 0);
      });

      it('reviewer agreement counts sampled reviews too, banded by their completed event', async () => {
        // A confident output (200) sampled for quality review and corrected: the evidence above the threshold.
        const sampled = chain(
          draft({
            inferenceId: 'inf_s',
            at: at(30),
            decision: decisionWith({ confidence: 0.93, sampledForReview: true }),
          }),
          reviewDraft('inf_s', 'enqueued', { at: at(30) }),
          reviewDraft('inf_s', 'claimed', { at: at(31) }),
          reviewDraft('inf_s', 'edit', { at: at(32) }),
        );
        const [, withSampled] = sources([...events, ...sampled]).find(([n]) => n === name)!;
        const report = await agreementReport(withSampled, day, { bandWidth: 0.1, since: day.from });
        const high = report.rows.find((r) => r.band.low === 0.9);
        assert.deepEqual(
          high && [high.reviewed, high.approved, high.edited, high.rejected, high.thresholds],
          [1, 0, 1, 0, [0.8]],
        );
        assert.equal(report.totals[0]?.reviewed, 5);
        assert.equal(report.unmatchedDecisions, 0);
      });
    });
  }
});

describe('completeness rules for one decision', () => {
  const [first, second] = chain(
    draft({ inferenceId: 'inf_x', eventType: 'inference.routed_to_review' }),
    reviewDraft('inf_x', 'approve'),
  ) as [AuditEvent, AuditEvent];
  const index = (e: AuditEvent) => ({
    schema_version: e.schemaVersion,
    event_id: e.eventId,
    event_type: e.eventType,
    tenant: e.tenant,
    actor_subject: e.actor.subject,
    actor_role: e.actor.role,
    hash: e.hash,
    inference_id: 'inf_x',
    sequence: e.sequence!,
  });
  const decision: LedgerDecision = {
    inferenceId: 'inf_x',
    tenant: 'acme',
    status: 'completed',
    createdAt: new Date(first.timestamp),
    reviewState: 'approved',
    sampledForReview: false,
    auditHead: headOf(second),
  };

  it('needs the decision event of the path the inference took', () => {
    assert.deepEqual(missingAudit({ ...decision, reviewState: null, auditHead: null }, []), [
      { kind: 'event', eventType: 'inference.completed' },
    ]);
    // Sampled for quality review: answered at once (inference.completed), then reviewed like any other.
    assert.deepEqual(missingAudit({ ...decision, sampledForReview: true, auditHead: null }, []), [
      { kind: 'event', eventType: 'inference.completed' },
      { kind: 'event', eventType: 'review.decided' },
    ]);
    assert.deepEqual(
      missingAudit({ ...decision, reviewState: 'pending', status: 'pending_review', auditHead: null }, []),
      [{ kind: 'event', eventType: 'inference.routed_to_review' }],
    );
  });

  it('finds a chain rewritten end to end by the hash the ledger holds', () => {
    assert.deepEqual(missingAudit(decision, [index(first), index(second)]), []);
    assert.deepEqual(missingAudit(decision, [index(first), { ...index(second), hash: 'f'.repeat(64) }]), [
      { kind: 'head_mismatch', sequence: 2 },
    ]);
  });

  it('counts an event emitted twice (the audit repair sweep re-emits) once, and flags a different one under its id', () => {
    assert.deepEqual(missingAudit(decision, [index(first), index(second), index(second), index(first)]), []);
    // A forged event that reuses a real id (and sequence) next to the real one.
    const forged = { ...index(second), hash: 'f'.repeat(64) };
    assert.deepEqual(missingAudit(decision, [index(first), index(second), forged]), [
      { kind: 'conflicting_event', eventId: second.eventId },
    ]);
  });
});
