import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { uniqueTenant } from '../support/gatewayHarness.js';
import { reviewerOf, submit, useReviewStack } from '../support/reviewHarness.js';

/**
 * The human-review pipeline end to end: a low-confidence inference answers 202, its review request travels
 * through the Pub/Sub emulator (push subscription) to reviewIntake, the item appears in the reviewer API's
 * queue, and a decision changes the inference at once.
 */
describe('review pipeline: 202 → Pub/Sub → review item → claim → decision (emulators, local models)', () => {
  let tenant: string;

  const { h } = useReviewStack({ behaviour: { a: { confidence: 0.5 } } });
  beforeEach(() => {
    tenant = uniqueTenant();
  });

  /** Submits a low-confidence inference and waits until its review item exists. */
  async function pendingInference(body: Record<string, unknown> = {}) {
    const res = await submit(h, tenant, body);
    assert.equal(res.status, 202);
    await h.takenIn(res.body.id);
    return res.body as { id: string; createdAt: string };
  }

  const list = (query = 'state=pending', who = reviewerOf(tenant)) =>
    h.reviewer.get(`/v1/reviews?${query}`).set('Authorization', who);
  const claim = (reviewId: string, who = reviewerOf(tenant)) =>
    h.reviewer.post(`/v1/reviews/${reviewId}/claim`).set('Authorization', who);
  const decide = (reviewId: string, decision: unknown, who = reviewerOf(tenant)) =>
    h.reviewer
      .post(`/v1/reviews/${reviewId}/decision`)
      .set('Authorization', who)
      .set('Content-Type', 'application/json')
      .send(JSON.stringify(decision));
  const getInference = (id: string) =>
    h.inference.get(`/v1/inferences/${id}`).set('Authorization', `Bearer dev:${tenant}:clinician:bob`);
  const eventsOf = (inferenceId: string) => h.audit.filter((e) => e.inferenceId === inferenceId);

  it('low confidence: 202, the item is queued, claimed and approved: the inference is completed by the reviewer', async () => {
    const submitted = await submit(h, tenant);
    assert.equal(submitted.status, 202);
    assert.equal(submitted.body.output, null);
    const inferenceId = submitted.body.id as string;
    await h.takenIn(inferenceId);

    const queue = await list();
    assert.equal(queue.status, 200);
    assert.equal(queue.body.items.length, 1);
    const item = queue.body.items[0];
    assert.equal(item.inferenceId, inferenceId);
    assert.match(item.id, /^rev_/);
    assert.equal(item.state, 'pending');
    assert.equal(item.task, 'medication-extraction');
    assert.match(item.input.text, /metformin/);
    assert.deepEqual(item.output.medications.map((m: { name: string }) => m.name).sort(), [
      'lisinopril',
      'metformin',
    ]);
    assert.equal(item.confidence, 0.5);
    assert.equal(item.threshold, 0.8);
    assert.equal(item.provider, 'local-a');
    assert.equal(item.claimedBy, null);
    assert.equal(item.createdAt, submitted.body.createdAt);
    assert.equal(Date.parse(item.dueAt) - Date.parse(item.createdAt), 240 * 60_000);
    // The proposal is still hidden from the caller.
    assert.equal((await getInference(inferenceId)).body.output, null);

    const before = Date.now();
    const claimed = await claim(item.id);
    const after = Date.now();
    assert.equal(claimed.status, 200);
    assert.equal(claimed.body.state, 'claimed');
    assert.equal(claimed.body.claimedBy, 'rita');
    const lease = Date.parse(claimed.body.leaseExpiresAt);
    assert.ok(lease >= before + 600_000 - 1_000 && lease <= after + 600_000, 'a 10-minute lease');

    const decided = await decide(item.id, { action: 'approve', note: 'checked against the MAR' });
    assert.equal(decided.status, 200);
    assert.equal(decided.body.state, 'approved');
    assert.equal(decided.body.decision.reviewer, 'rita');

    const final = await getInference(inferenceId);
    assert.equal(final.status, 200);
    assert.equal(final.body.status, 'completed');
    assert.deepEqual(final.body.output, item.output);
    assert.equal(final.body.review.state, 'approved');
    assert.equal(final.body.review.reviewer, 'rita');
    assert.equal(final.body.review.reasonCode, null);
    assert.equal(final.body.review.decidedAt, decided.body.decision.decidedAt);
    assert.equal(final.body.completedAt, decided.body.decision.decidedAt);

    // One hash chain: the routing, the intake, the claim and the decision, each with who did it.
    const chain = eventsOf(inferenceId).filter((e) => e.sequence !== null);
    assert.deepEqual(
      chain.map((e) => [e.eventType, e.sequence]),
      [
        ['inference.routed_to_review', 1],
        ['review.enqueued', 2],
        ['review.claimed', 3],
        ['review.decided', 4],
      ],
    );
    for (let i = 1; i < chain.length; i++) assert.equal(chain[i]!.prevHash, chain[i - 1]!.hash);
    const [, enqueued, claimedEvent, decidedEvent] = chain;
    assert.deepEqual(enqueued!.actor, { subject: 'review-intake', role: 'system', tenant });
    assert.deepEqual(claimedEvent!.actor, { subject: 'rita', role: 'reviewer', tenant });
    assert.equal(claimedEvent!.review?.action, 'claimed');
    assert.deepEqual(decidedEvent!.actor, { subject: 'rita', role: 'reviewer', tenant });
    assert.deepEqual(decidedEvent!.review, {
      reviewId: item.id,
      reviewer: 'rita',
      action: 'approve',
      reasonCode: null,
      editHash: null,
      dueAt: item.dueAt,
    });
    // The reviewer's note is clinical text: kept with the item, never in the audit trail.
    assert.doesNotMatch(JSON.stringify(eventsOf(inferenceId)), /checked against the MAR/);
  });

  it('records the review request in the outbox and marks it published once Pub/Sub has it', async () => {
    const { id } = await pendingInference();
    const entry = await h.firestore.collection('reviewOutbox').doc(id).get();
    assert.equal(entry.get('kind'), 'review_request');
    assert.equal(entry.get('published'), true);
    assert.ok(entry.get('expiresAt'), 'a published entry expires (TTL)');
  });

  it('edit: an output that fails the task schema is 422 with field errors and changes nothing; a valid edit completes the inference', async () => {
    const { id } = await pendingInference();
    const reviewId = `rev_${id.slice(4)}`;
    assert.equal((await claim(reviewId)).status, 200);

    const invalid = await decide(reviewId, {
      action: 'edit',
      reasonCode: 'incorrect',
      output: { medications: [{ name: 'metformin', dose: 500 }] },
    });
    assert.equal(invalid.status, 422);
    assert.match(invalid.headers['content-type'] ?? '', /^application\/problem\+json/);
    const paths = invalid.body.errors.map((e: { path: string }) => e.path).sort();
    assert.deepEqual(paths, [
      'output.medications.0.dose',
      'output.medications.0.frequency',
      'output.medications.0.route',
    ]);
    assert.doesNotMatch(invalid.text, /metformin/);
    assert.equal((await getInference(id)).body.status, 'pending_review');

    const edited = {
      medications: [{ name: 'metformin', dose: '500 mg', route: 'oral', frequency: 'twice daily' }],
    };
    const ok = await decide(reviewId, { action: 'edit', reasonCode: 'incomplete', output: edited });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.state, 'edited');
    assert.deepEqual(ok.body.decision.output, edited);
    const final = (await getInference(id)).body;
    assert.equal(final.status, 'completed');
    assert.deepEqual(final.output, edited);
    assert.deepEqual(
      { state: final.review.state, reviewer: final.review.reviewer, reasonCode: final.review.reasonCode },
      { state: 'edited', reviewer: 'rita', reasonCode: 'incomplete' },
    );
    const decidedEvent = eventsOf(id).find((e) => e.eventType === 'review.decided');
    assert.match(decidedEvent?.review?.editHash ?? '', /^[0-9a-f]{64}$/);
    // The audit event proves the edit by its keyed hash; the edited output itself is not in it.
    assert.doesNotMatch(JSON.stringify(decidedEvent), /twice daily/);
  });

  it('reject: the inference becomes rejected, with no output', async () => {
    const { id } = await pendingInference();
    const reviewId = `rev_${id.slice(4)}`;
    await claim(reviewId);
    const res = await decide(reviewId, { action: 'reject', reasonCode: 'unsafe', note: 'dose implausible' });
    assert.equal(res.status, 200);
    assert.equal(res.body.state, 'rejected');
    const final = (await getInference(id)).body;
    assert.equal(final.status, 'rejected');
    assert.equal(final.output, null);
    assert.equal(final.review.state, 'rejected');
    assert.equal(final.review.reasonCode, 'unsafe');
    assert.ok(final.completedAt);
    assert.equal((await list('state=rejected')).body.items[0].id, reviewId);
  });

  it('decision rules: 409 without your live claim or once decided, 422 for a missing reason or field, 400 for a malformed body', async () => {
    const { id } = await pendingInference();
    const reviewId = `rev_${id.slice(4)}`;
    assert.equal((await decide(reviewId, { action: 'approve' })).status, 409, 'not claimed');
    await claim(reviewId);
    assert.equal((await decide(reviewId, { action: 'approve' }, reviewerOf(tenant, 'sam'))).status, 409);

    const missing = [
      [{ action: 'reject' }, ['reasonCode']],
      [{ action: 'edit', reasonCode: 'other' }, ['output']],
      [{ action: 'edit', output: { medications: [] } }, ['reasonCode']],
      [{ action: 'approve', output: { medications: [] } }, ['output']],
    ] as const;
    for (const [body, fields] of missing) {
      const res = await decide(reviewId, body);
      assert.equal(res.status, 422, JSON.stringify(body));
      assert.deepEqual(
        res.body.errors.map((e: { path: string }) => e.path),
        fields,
      );
    }
    for (const body of [
      { action: 'maybe' },
      { action: 'reject', reasonCode: 'tired' },
      { action: 'approve', extra: true },
      { action: 'approve', note: 'x'.repeat(2_001) },
    ]) {
      assert.equal((await decide(reviewId, body)).status, 400, JSON.stringify(body));
    }
    const wrongType = await h.reviewer
      .post(`/v1/reviews/${reviewId}/decision`)
      .set('Authorization', reviewerOf(tenant))
      .set('Content-Type', 'text/plain')
      .send('approve');
    assert.equal(wrongType.status, 415);

    assert.equal(
      (await getInference(id)).body.status,
      'pending_review',
      'nothing above changed the inference',
    );
    assert.equal((await decide(reviewId, { action: 'approve' })).status, 200);
    assert.equal((await decide(reviewId, { action: 'approve' })).status, 409, 'already decided');
    assert.equal((await claim(reviewId)).status, 409, 'a decided item cannot be claimed');
  });

  it('tenants and roles: another tenant’s reviewer gets 404, a clinician 403, no token 401', async () => {
    const { id } = await pendingInference();
    const reviewId = `rev_${id.slice(4)}`;
    const stranger = reviewerOf(uniqueTenant(), 'eve');
    assert.equal((await claim(reviewId, stranger)).status, 404);
    assert.equal((await decide(reviewId, { action: 'approve' }, stranger)).status, 404);
    assert.deepEqual((await list('state=pending', stranger)).body.items, []);
    assert.equal((await claim(reviewId, `Bearer dev:${tenant}:clinician:alice`)).status, 403);
    const anonymous = await h.reviewer.get('/v1/reviews');
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.headers['www-authenticate'], 'Bearer');
    assert.equal((await claim('rev_doesNotExist')).status, 404);
    assert.equal((await claim('not-a-review-id')).status, 404);
  });

  it('lists oldest first, per state, up to the limit; rejects a bad query', async () => {
    const first = await pendingInference();
    const second = await pendingInference();
    const third = await pendingInference();
    const all = (await list()).body.items.map((i: { inferenceId: string }) => i.inferenceId);
    assert.deepEqual(all, [first.id, second.id, third.id]);
    const limited = (await list('state=pending&limit=2')).body.items.map(
      (i: { inferenceId: string }) => i.inferenceId,
    );
    assert.deepEqual(limited, [first.id, second.id]);

    await claim(`rev_${second.id.slice(4)}`);
    const pending = (await list()).body.items.map((i: { inferenceId: string }) => i.inferenceId);
    assert.deepEqual(pending, [first.id, third.id]);
    const claimed = (await list('state=claimed')).body.items;
    assert.deepEqual(
      claimed.map((i: { inferenceId: string; claimedBy: string }) => [i.inferenceId, i.claimedBy]),
      [[second.id, 'rita']],
    );

    for (const query of [
      'state=done',
      'limit=0',
      'limit=201',
      'limit=ten',
      'state=pending&state=claimed',
      'sort=new',
    ]) {
      const res = await list(query);
      assert.equal(res.status, 400, query);
      assert.match(res.headers['content-type'] ?? '', /^application\/problem\+json/);
    }
  });
});

describe('quality sampling (REVIEW_SAMPLE_RATE=1): confident outputs are answered at once and still reviewed', () => {
  const tenant = uniqueTenant();

  const { models, h } = useReviewStack({ env: { REVIEW_SAMPLE_RATE: '1' } });

  it('answers 200 completed with a pending review, queues it marked sampled, and an edit corrects the output', async () => {
    await models.a.setBehaviour({ confidence: 0.95 });
    const res = await submit(h, tenant);
    assert.equal(res.status, 200);
    assert.equal(res.body.status, 'completed');
    assert.ok(res.body.output);
    assert.equal(res.body.review.state, 'pending');
    await h.takenIn(res.body.id);

    const queue = await h.reviewer.get('/v1/reviews').set('Authorization', reviewerOf(tenant));
    const item = queue.body.items[0];
    assert.equal(item.inferenceId, res.body.id);
    assert.equal(item.sampled, true);
    assert.equal(item.confidence, 0.95);

    await h.reviewer.post(`/v1/reviews/${item.id}/claim`).set('Authorization', reviewerOf(tenant));
    const corrected = {
      medications: [{ name: 'metformin', dose: '500 mg', route: 'oral', frequency: 'BID' }],
    };
    const decided = await h.reviewer
      .post(`/v1/reviews/${item.id}/decision`)
      .set('Authorization', reviewerOf(tenant))
      .set('Content-Type', 'application/json')
      .send({ action: 'edit', reasonCode: 'incomplete', output: corrected });
    assert.equal(decided.status, 200);
    const final = (
      await h.inference
        .get(`/v1/inferences/${res.body.id}`)
        .set('Authorization', `Bearer dev:${tenant}:clinician:bob`)
    ).body;
    assert.equal(final.status, 'completed');
    assert.deepEqual(final.output, corrected);
    assert.equal(final.review.state, 'edited');
    assert.equal(final.completedAt, res.body.completedAt, 'it was completed when first answered');
  });

  it('a replay after a review never shows what the reviewer withdrew: same status, current representation', async () => {
    await models.a.setBehaviour({ confidence: 0.95 });
    const key = randomUUID();
    const res = await submit(h, tenant, {}, key);
    assert.equal(res.status, 200);
    assert.ok(res.body.output);
    await h.takenIn(res.body.id);
    const queue = await h.reviewer.get('/v1/reviews').set('Authorization', reviewerOf(tenant));
    const item = queue.body.items.find((i: { inferenceId: string }) => i.inferenceId === res.body.id);
    await h.reviewer.post(`/v1/reviews/${item.id}/claim`).set('Authorization', reviewerOf(tenant));
    const decided = await h.reviewer
      .post(`/v1/reviews/${item.id}/decision`)
      .set('Authorization', reviewerOf(tenant))
      .set('Content-Type', 'application/json')
      .send({ action: 'reject', reasonCode: 'unsafe' });
    assert.equal(decided.status, 200);

    const calls = (await models.a.stats()).requests;
    const replay = await submit(h, tenant, {}, key);
    assert.equal(replay.status, 200, 'the status first answered');
    assert.equal(replay.headers['idempotent-replayed'], 'true');
    assert.equal(replay.body.id, res.body.id);
    assert.equal(replay.body.status, 'rejected');
    assert.equal(replay.body.output, null);
    assert.equal(replay.body.review.state, 'rejected');
    assert.equal((await models.a.stats()).requests, calls, 'a replay never calls a model');
  });
});
