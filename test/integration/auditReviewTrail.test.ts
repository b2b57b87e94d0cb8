import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { auditLogEntry } from '../../functions/src/adapters/audit/auditLogEntry.js';
import { LocalAuditEventSource } from '../../functions/src/adapters/audit/localAuditEventSource.js';
import { FirestoreDecisionLedger } from '../../functions/src/adapters/firestore/firestoreDecisionLedger.js';
import { verifyChains } from '../../functions/src/core/audit/chainVerifier.js';
import { checkCompleteness } from '../../functions/src/core/audit/completeness.js';
import type { AuditEvent } from '../../functions/src/core/audit/events.js';
import { devChainKeys } from '../support/auditEvents.js';
import { uniqueTenant } from '../support/gatewayHarness.js';
import { clinician, reviewerOf, startReviewHarness, useReviewStack } from '../support/reviewHarness.js';

/**
 * The audit trail of the review flow, end to end (the review pipeline's harness: the four functions, the
 * Pub/Sub and Firestore emulators): each path appends exactly its events to the inference's chain, the
 * reviewer's note and the input never reach an event or a log line, and completeness and verification hold
 * over the result.
 */

const canary = `zq${randomUUID().replaceAll('-', '')}`;
const noteCanary = `note${randomUUID().replaceAll('-', '')}`;
const text = `Patient ${canary} takes metformin 500 mg PO BID and lisinopril 10 mg daily.`;
const patientRef = `mrn-${randomUUID()}`;

describe('audit trail of the review flow (review pipeline harness)', () => {
  let tenant: string;
  const keys: string[] = [];
  const started = new Date();

  const { models, h } = useReviewStack();
  before(async () => {
    tenant = uniqueTenant();
  });

  const submitLowConfidence = async () => {
    await models.a.setBehaviour({ confidence: 0.5 });
    const key = `review-audit-${randomUUID()}`;
    keys.push(key);
    const res = await h.inference
      .post('/v1/inferences')
      .set('Authorization', clinician(tenant))
      .set('Content-Type', 'application/json')
      .set('Idempotency-Key', key)
      .send(JSON.stringify({ task: 'medication-extraction', input: { text }, patientRef }));
    assert.equal(res.status, 202);
    await h.takenIn(res.body.id);
    return res.body.id as string;
  };

  const reviewItemOf = async (inferenceId: string) => {
    const list = await h.reviewer
      .get('/v1/reviews?state=pending&limit=200')
      .set('Authorization', reviewerOf(tenant));
    assert.equal(list.status, 200);
    const item = (list.body.items as { id: string; inferenceId: string }[]).find(
      (i) => i.inferenceId === inferenceId,
    );
    assert.ok(item, 'the review item is listed');
    return item.id;
  };

  const decide = async (inferenceId: string, decision: Record<string, unknown>) => {
    const reviewId = await reviewItemOf(inferenceId);
    const claim = await h.reviewer
      .post(`/v1/reviews/${reviewId}/claim`)
      .set('Authorization', reviewerOf(tenant));
    assert.equal(claim.status, 200);
    const decided = await h.reviewer
      .post(`/v1/reviews/${reviewId}/decision`)
      .set('Authorization', reviewerOf(tenant))
      .set('Content-Type', 'application/json')
      .send(JSON.stringify({ note: `reviewer note ${noteCanary}`, ...decision }));
    assert.equal(decided.status, 200, JSON.stringify(decided.body));
  };

  const chainOf = (inferenceId: string) =>
    h.audit
      .filter((e) => e.inferenceId === inferenceId)
      .map((e) => [e.eventType, e.sequence, e.review?.action ?? null]);

  it('approve: routed_to_review, enqueued, claimed, decided (approve), one chain', async () => {
    const id = await submitLowConfidence();
    await decide(id, { action: 'approve' });
    assert.deepEqual(chainOf(id), [
      ['inference.routed_to_review', 1, null],
      ['review.enqueued', 2, 'enqueued'],
      ['review.claimed', 3, 'claimed'],
      ['review.decided', 4, 'approve'],
    ]);
    const decided = h.audit.find((e) => e.inferenceId === id && e.eventType === 'review.decided')!;
    assert.deepEqual(
      [decided.actor.subject, decided.actor.role, decided.review?.reviewer],
      ['rita', 'reviewer', 'rita'],
    );
    assert.equal(decided.patientRef, patientRef);
  });

  it('edit: the decision carries the reason and a keyed hash of the edit, not the edit', async () => {
    const id = await submitLowConfidence();
    const edited = {
      medications: [{ name: 'metformin', dose: '1000 mg', route: 'oral', frequency: 'twice daily' }],
    };
    await decide(id, { action: 'edit', output: edited, reasonCode: 'incorrect' });
    const decided = h.audit.find((e) => e.inferenceId === id && e.eventType === 'review.decided')!;
    assert.deepEqual([decided.review?.action, decided.review?.reasonCode], ['edit', 'incorrect']);
    assert.match(decided.review?.editHash ?? '', /^[0-9a-f]{64}$/);
    assert.doesNotMatch(JSON.stringify(decided), /1000 mg/);
  });

  it('reject, then the clinician reads the rejected inference: viewed, outside the chain', async () => {
    const id = await submitLowConfidence();
    await decide(id, { action: 'reject', reasonCode: 'unsafe' });
    const read = await h.inference.get(`/v1/inferences/${id}`).set('Authorization', clinician(tenant));
    assert.equal(read.body.status, 'rejected');
    assert.deepEqual(chainOf(id).slice(-2), [
      ['review.decided', 4, 'reject'],
      ['inference.viewed', null, null],
    ]);
  });

  it('no event and no log line carries the input, the reviewer note or a raw key; content only in decision.response', () => {
    const leaks = (s: string) =>
      [
        s.includes(canary) && 'input text',
        s.includes(noteCanary) && 'reviewer note',
        keys.some((k) => s.includes(k)) && 'raw Idempotency-Key',
      ].filter(Boolean);
    assert.ok(h.audit.length >= 12);
    for (const line of h.logLines) {
      assert.deepEqual(leaks(line), [], `log line leaks: ${line.slice(0, 200)}`);
      assert.ok(!line.includes('metformin'), 'a log line carries model output');
    }
    for (const event of h.audit) {
      // The entry the sink would write for it: every field but decision.response must be free of content.
      const line = JSON.stringify(auditLogEntry(event, JSON.stringify(event), h.config.project));
      assert.deepEqual(leaks(line), [], `${event.eventType} leaks`);
      const withoutResponse = { ...event, decision: event.decision && { ...event.decision, response: null } };
      assert.ok(
        !JSON.stringify(withoutResponse).includes('metformin'),
        `${event.eventType} carries output outside decision.response`,
      );
    }
  });

  it('quality sampling: answered at once (inference.completed), then reviewed on the same chain', async () => {
    const sampling = await startReviewHarness({ models, env: { REVIEW_SAMPLE_RATE: '1' } });
    // A tenant of its own: this harness's audit events are not in the other's.
    const own = uniqueTenant();
    try {
      await models.a.setBehaviour({ confidence: null });
      const res = await sampling.inference
        .post('/v1/inferences')
        .set('Authorization', clinician(own))
        .set('Content-Type', 'application/json')
        .set('Idempotency-Key', randomUUID())
        .send(JSON.stringify({ task: 'medication-extraction', input: { text }, patientRef }));
      assert.equal(res.status, 200);
      await sampling.takenIn(res.body.id);
      const list = await sampling.reviewer
        .get('/v1/reviews?state=pending')
        .set('Authorization', reviewerOf(own));
      const item = (list.body.items as { id: string; inferenceId: string }[]).find(
        (i) => i.inferenceId === res.body.id,
      )!;
      await sampling.reviewer.post(`/v1/reviews/${item.id}/claim`).set('Authorization', reviewerOf(own));
      const decided = await sampling.reviewer
        .post(`/v1/reviews/${item.id}/decision`)
        .set('Authorization', reviewerOf(own))
        .set('Content-Type', 'application/json')
        .send(JSON.stringify({ action: 'approve' }));
      assert.equal(decided.status, 200);
      assert.deepEqual(
        sampling.audit.filter((e) => e.inferenceId === res.body.id).map((e) => [e.eventType, e.sequence]),
        [
          ['inference.completed', 1],
          ['review.enqueued', 2],
          ['review.claimed', 3],
          ['review.decided', 4],
        ],
      );
      const file = join(mkdtempSync(join(tmpdir(), 'audit-sampled-')), 'audit.jsonl');
      writeFileSync(file, sampling.audit.map((e) => `${JSON.stringify(e)}\n`).join(''));
      const range = { from: new Date(started.getTime() - 60_000), to: new Date(Date.now() + 60_000) };
      const report = await checkCompleteness(
        new FirestoreDecisionLedger(sampling.firestore),
        new LocalAuditEventSource(file),
        range,
        { tenant: own },
      );
      // The other decisions of this tenant were audited by the other harness; this one must be complete.
      assert.ok(
        !report.incomplete.some((d) => d.inferenceId === res.body.id),
        JSON.stringify(report.incomplete),
      );
    } finally {
      await sampling.close();
    }
  });

  it('completeness and verification hold over the review flow, and completeness misses no review.decided', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'audit-review-')), 'audit.jsonl');
    const write = (events: AuditEvent[]) =>
      writeFileSync(file, events.map((e) => `${JSON.stringify(e)}\n`).join(''));
    const range = { from: new Date(started.getTime() - 60_000), to: new Date(Date.now() + 60_000) };
    const ledger = new FirestoreDecisionLedger(h.firestore);

    write(h.audit);
    assert.deepEqual(
      (await verifyChains(new LocalAuditEventSource(file).chains({ kind: 'all' }), devChainKeys)).problems,
      [],
    );
    const complete = await checkCompleteness(ledger, new LocalAuditEventSource(file), range, { tenant });
    assert.equal(complete.decisionsChecked, 3);
    assert.deepEqual(complete.incomplete, []);

    const lost = h.audit.find((e) => e.tenant === tenant && e.eventType === 'review.decided')!;
    write(h.audit.filter((e) => e !== lost));
    const incomplete = await checkCompleteness(ledger, new LocalAuditEventSource(file), range, { tenant });
    assert.deepEqual(
      incomplete.incomplete.map((d) => [d.inferenceId, d.missing]),
      [
        [
          lost.inferenceId,
          [
            { kind: 'event', eventType: 'review.decided' },
            { kind: 'sequence', from: 4, to: 4 },
          ],
        ],
      ],
    );
  });
});
