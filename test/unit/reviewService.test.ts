import assert from 'node:assert/strict';
import { AuditTrail } from '../../functions/src/core/audit/auditTrail.js';
import { DEV_CHAIN_KEY } from '../../functions/src/core/audit/chain.js';
import type { AuditEvent } from '../../functions/src/core/audit/events.js';
import { isGatewayError } from '../../functions/src/core/errors.js';
import type { InferenceRecord } from '../../functions/src/core/inference/inference.js';
import type { OutboxEntry, OutboxRelay } from '../../functions/src/core/review/outbox.js';
import { reviewEventMessageSchema } from '../../functions/src/core/review/reviewEvents.js';
import { ReviewService } from '../../functions/src/core/review/reviewService.js';
import { MemoryDatabase, MemoryReviewStore } from '../support/memoryStores.js';

let now = new Date('2026-11-27T10:00:00Z');
const reviewer = { subject: 'rita', tenant: 'acme', roles: ['reviewer' as const] };

/**
 * A store whose first commit applies but answers as a dropped connection does; the client library then
 * retries the transaction, whose change now finds the item already decided (as Firestore's SDK does).
 */
class AmbiguousReviewStore extends MemoryReviewStore {
  private failed = false;
  override async transact<T>(
    ids: { inferenceId: string; reviewId: string },
    change: Parameters<MemoryReviewStore['transact']>[1],
  ): Promise<T> {
    const result = await super.transact<T>(ids, change as never);
    if (this.failed) return result;
    this.failed = true;
    try {
      await super.transact<T>(ids, change as never);
    } catch {
      // The retry's own verdict ("already decided") is what the caller would see.
      throw Object.assign(new Error('14 UNAVAILABLE: the answer to the commit was lost'), { code: 14 });
    }
    return result;
  }
}

function fixture(proposal: unknown, ambiguous = false) {
  const db = new MemoryDatabase();
  const store = ambiguous ? new AmbiguousReviewStore(db) : new MemoryReviewStore(db);
  const events: AuditEvent[] = [];
  const inference = {
    id: 'inf_x',
    tenant: 'acme',
    task: 'icd10-suggestion',
    status: 'pending_review',
    output: null,
    proposal,
    review: { state: 'pending', reviewer: null, reasonCode: null, decidedAt: null },
    completedAt: null,
    callbackUrl: null,
    patientRef: null,
    encounterRef: null,
    auditHead: { sequence: 2, hash: 'h2' },
  } as unknown as InferenceRecord;
  db.put(db.inferences, 'inf_x', inference);
  db.put(db.reviews, 'rev_x', {
    id: 'rev_x',
    inferenceId: 'inf_x',
    tenant: 'acme',
    task: 'icd10-suggestion',
    input: { text: 'hypertension' },
    proposal,
    confidence: 0,
    threshold: 0.8,
    scoreBasis: 'invalid_output',
    sampled: false,
    provider: 'p',
    model: 'm',
    state: 'claimed',
    claimedBy: 'rita',
    leaseExpiresAt: new Date(now.getTime() + 60_000),
    createdAt: now,
    enqueuedAt: now,
    dueAt: new Date(now.getTime() + 3_600_000),
    escalatedAt: null,
    decision: null,
  });
  const delivered: OutboxEntry[] = [];
  const service = new ReviewService({
    store,
    outbox: {
      deliver: async (entry: OutboxEntry) => {
        delivered.push(entry);
        return true;
      },
    } as unknown as OutboxRelay,
    trail: new AuditTrail({
      sink: { write: async (e) => void events.push(e) },
      key: DEV_CHAIN_KEY,
      heads: { readHead: async (id) => db.inference(id)?.auditHead ?? null },
      warn: () => undefined,
    }),
    auditHmacKey: 'k'.repeat(32),
    gatewayVersion: 'test',
    leaseMs: 600_000,
    clock: () => now.getTime(),
  });
  return { db, service, events, delivered };
}

describe('ReviewService: an ambiguous commit (applied, answer lost) is resolved by reading the chain head', () => {
  it('answers the decision and emits its review.decided once, instead of a false 409', async () => {
    const corrected = {
      codes: [{ code: 'I10', description: 'Essential hypertension', evidence: 'BP high' }],
    };
    const { db, service, events } = fixture({ codes: [] }, true);
    const view = await service.decide(
      reviewer,
      'rev_x',
      { action: 'edit', reasonCode: 'incorrect', output: corrected },
      { trace: null },
    );
    assert.equal(view.state, 'edited');
    assert.deepEqual(
      events.map((e) => e.eventType),
      ['review.decided'],
    );
    assert.equal(db.inference('inf_x')!.auditHead.eventId, events[0]!.eventId);
  });
});

describe('ReviewService decisions on an output that failed the task schema', () => {
  const invalid = { codes: [{ code: 'hypertension', description: 'Hypertension', evidence: 'BP high' }] };

  it('refuses to approve it (422, naming the proposal’s fields) and writes nothing', async () => {
    const { db, service } = fixture(invalid);
    await assert.rejects(
      service.decide(reviewer, 'rev_x', { action: 'approve' }, { trace: null }),
      (e: unknown) => {
        assert.ok(isGatewayError(e, 'unprocessable'));
        assert.deepEqual(
          e.errors.map((p) => p.path),
          ['proposal.codes.0.code'],
        );
        return true;
      },
    );
    assert.equal(db.commits, 0);
    assert.equal(db.inference('inf_x')!.status, 'pending_review');
  });

  it('lets the reviewer correct it with an edit, or reject it', async () => {
    const corrected = {
      codes: [{ code: 'I10', description: 'Essential hypertension', evidence: 'BP high' }],
    };
    const edit = fixture(invalid);
    const view = await edit.service.decide(
      reviewer,
      'rev_x',
      { action: 'edit', reasonCode: 'incorrect', output: corrected },
      { trace: null },
    );
    assert.equal(view.state, 'edited');
    assert.deepEqual(edit.db.inference('inf_x')!.output, corrected);
    assert.equal(edit.db.inference('inf_x')!.auditHead.sequence, 3);

    const reject = fixture(invalid);
    await reject.service.decide(
      reviewer,
      'rev_x',
      { action: 'reject', reasonCode: 'incorrect' },
      { trace: null },
    );
    assert.equal(reject.db.inference('inf_x')!.status, 'rejected');
    assert.equal(reject.db.inference('inf_x')!.output, null);
  });
});

describe('ReviewService announces every step on review-events, in the same write', () => {
  const valid = { codes: [{ code: 'I10', description: 'Essential hypertension', evidence: 'BP high' }] };
  const events = (outbox: OutboxEntry[]) =>
    outbox.flatMap((e) => (e.kind === 'review_event' ? [reviewEventMessageSchema.parse(e.message)] : []));

  it('claim and decision: one message each, written with the change and delivered after it', async () => {
    const { db, service, delivered } = fixture(valid);
    await service.claim(reviewer, 'rev_x', { trace: null });
    await service.decide(
      reviewer,
      'rev_x',
      { action: 'reject', reasonCode: 'unsafe', note: 'BP high' },
      { trace: null },
    );
    assert.deepEqual(
      events(db.outboxEntries()).map((m) => [
        m.eventType,
        m.state,
        m.sequence,
        m.action,
        m.reasonCode,
        m.reviewer,
      ]),
      [
        ['review.claimed', 'claimed', 3, null, null, 'rita'],
        ['review.decided', 'rejected', 4, 'reject', 'unsafe', 'rita'],
      ],
    );
    assert.deepEqual(delivered, db.outboxEntries());
    assert.ok(!JSON.stringify(events(db.outboxEntries())).includes('BP high'));
  });

  it('escalation: the escalation message and the lifecycle message, both with the change', async () => {
    const { db, service } = fixture(valid);
    const saved = now;
    now = new Date(now.getTime() + 2 * 3_600_000);
    try {
      assert.equal(await service.escalateIfOverdue('rev_x'), 'escalated');
    } finally {
      now = saved;
    }
    assert.deepEqual(
      db.outboxEntries().map((e) => e.kind),
      ['escalation', 'review_event'],
    );
    const [escalated] = events(db.outboxEntries());
    // The claim had lapsed by then: the item shows as pending, held by nobody.
    assert.deepEqual(
      [escalated!.eventType, escalated!.escalated, escalated!.state, escalated!.reviewer],
      ['review.escalated', true, 'pending', null],
    );
  });
});
