import assert from 'node:assert/strict';
import type { Message } from '@google-cloud/pubsub';
import { escalationOperatorsSubscription } from '../../functions/dev/reviewTopology.js';
import { manualClock, uniqueTenant } from '../support/gatewayHarness.js';
import { reviewerOf, submit, useReviewStack } from '../support/reviewHarness.js';

/**
 * Deadlines run on the local task scheduler (TASKS_MODE=local): tasks stored in Firestore,
 * performed by `LocalTaskRunner.runDue()`, which these tests call themselves with an injected clock.
 */
describe('review deadlines (local task scheduler, injected clock, emulators)', () => {
  let tenant: string;
  // A day of its own, so that no other test's tasks are due on this clock.
  const clock = manualClock(new Date('2025-06-11T07:00:00Z'));

  const { h } = useReviewStack({ behaviour: { a: { confidence: 0.6 } }, clock: clock.now });
  beforeEach(() => {
    tenant = uniqueTenant();
  });

  async function queuedReview(body: Record<string, unknown> = {}) {
    const res = await submit(h, tenant, body);
    assert.equal(res.status, 202);
    await h.takenIn(res.body.id);
    return { inferenceId: res.body.id as string, reviewId: `rev_${res.body.id.slice(4)}` };
  }
  const itemOf = async (reviewId: string, state = 'pending') =>
    (
      await h.reviewer.get(`/v1/reviews?state=${state}`).set('Authorization', reviewerOf(tenant))
    ).body.items.find((i: { id: string }) => i.id === reviewId);
  const deadlineCheck = (reviewId: string, auth = h.serviceToken()) =>
    h.jobs
      .post('/tasks/review-deadline')
      .set('Authorization', auth)
      .set('Content-Type', 'application/json')
      .send({ reviewId });

  it('a due time passing without a decision escalates the item (flag, audit event, message), never approves it', async () => {
    const escalations = h.pubsub.subscription(escalationOperatorsSubscription(h.topology));
    const announced = new Promise<Message>((resolve) => {
      escalations.on('message', (m: Message) => {
        m.ack();
        if (m.attributes.tenant === tenant) resolve(m);
      });
    });

    const { inferenceId, reviewId } = await queuedReview();
    assert.equal((await deadlineCheck(reviewId)).status, 409, 'a check that comes early is retried later');

    clock.advance(239 * 60_000);
    await h.runner.runDue();
    assert.equal((await itemOf(reviewId)).escalated, false, 'not due yet');

    await h.reviewer.post(`/v1/reviews/${reviewId}/claim`).set('Authorization', reviewerOf(tenant));
    clock.advance(60_001);
    await h.runner.runDue();

    const item = await itemOf(reviewId, 'claimed');
    assert.equal(item.escalated, true);
    assert.equal(item.state, 'claimed', 'escalation is a flag, not a decision');
    const inference = await h.inference
      .get(`/v1/inferences/${inferenceId}`)
      .set('Authorization', `Bearer dev:${tenant}:clinician:alice`);
    assert.equal(inference.body.status, 'pending_review');
    assert.equal(inference.body.output, null);
    assert.equal(inference.body.review.state, 'pending');

    const escalated = h.audit.filter(
      (e) => e.inferenceId === inferenceId && e.eventType === 'review.escalated',
    );
    assert.equal(escalated.length, 1);
    assert.equal(escalated[0]!.actor.role, 'system');
    assert.equal(escalated[0]!.review?.reviewer, 'rita', 'who held it when it went overdue');
    assert.equal(escalated[0]!.review?.dueAt, item.dueAt);

    // Duplicate deliveries of the check (Cloud Tasks is at least once) change nothing.
    const again = await deadlineCheck(reviewId);
    assert.equal(again.status, 200);
    assert.equal(again.body.outcome, 'already_escalated');
    assert.equal(
      h.audit.filter((e) => e.inferenceId === inferenceId && e.eventType === 'review.escalated').length,
      1,
    );

    // Operators are told, with ids only.
    const message = await announced;
    await escalations.close();
    const body = JSON.parse(message.data.toString('utf8'));
    assert.deepEqual(Object.keys(body).sort(), [
      'dueAt',
      'escalatedAt',
      'inferenceId',
      'reviewId',
      'schemaVersion',
      'task',
      'tenant',
    ]);
    assert.equal(body.reviewId, reviewId);
    assert.doesNotMatch(message.data.toString('utf8'), /metformin/);
  });

  it('a decided item is not escalated when its deadline check runs', async () => {
    const { inferenceId, reviewId } = await queuedReview();
    await h.reviewer.post(`/v1/reviews/${reviewId}/claim`).set('Authorization', reviewerOf(tenant));
    await h.reviewer
      .post(`/v1/reviews/${reviewId}/decision`)
      .set('Authorization', reviewerOf(tenant))
      .set('Content-Type', 'application/json')
      .send({ action: 'reject', reasonCode: 'incorrect' });
    clock.advance(241 * 60_000);
    const check = await deadlineCheck(reviewId);
    assert.equal(check.body.outcome, 'decided');
    assert.equal(
      h.audit.filter((e) => e.inferenceId === inferenceId && e.eventType === 'review.escalated').length,
      0,
    );
  });

  it('only the tasks and scheduler service accounts may call the deadline check', async () => {
    const { reviewId } = await queuedReview();
    assert.equal((await deadlineCheck(reviewId, '')).status, 401);
    assert.equal((await deadlineCheck(reviewId, reviewerOf(tenant))).status, 401);
    assert.equal((await deadlineCheck(reviewId, h.serviceToken('mallory@local.test'))).status, 403);
  });
});
