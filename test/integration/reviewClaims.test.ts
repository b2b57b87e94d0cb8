import assert from 'node:assert/strict';
import { manualClock, uniqueTenant } from '../support/gatewayHarness.js';
import { reviewerOf, submit, useReviewStack } from '../support/reviewHarness.js';

describe('review claims and leases (Firestore emulator transactions, injected clock)', () => {
  let tenant: string;
  const clock = manualClock(new Date('2026-03-02T08:00:00Z'));

  const { h } = useReviewStack({
    behaviour: { a: { confidence: 0.3 } },
    clock: clock.now,
    env: { REVIEW_LEASE_SECONDS: '600' },
  });
  beforeEach(() => {
    tenant = uniqueTenant();
  });

  async function queuedReview(): Promise<{ inferenceId: string; reviewId: string }> {
    const res = await submit(h, tenant);
    assert.equal(res.status, 202);
    await h.takenIn(res.body.id);
    return { inferenceId: res.body.id, reviewId: `rev_${res.body.id.slice(4)}` };
  }
  const claim = (reviewId: string, subject: string) =>
    h.reviewer.post(`/v1/reviews/${reviewId}/claim`).set('Authorization', reviewerOf(tenant, subject));
  const approve = (reviewId: string, subject: string) =>
    h.reviewer
      .post(`/v1/reviews/${reviewId}/decision`)
      .set('Authorization', reviewerOf(tenant, subject))
      .set('Content-Type', 'application/json')
      .send({ action: 'approve' });

  it('two reviewers claiming the same item at once: exactly one wins, the other gets 409', async () => {
    const { inferenceId, reviewId } = await queuedReview();
    const reviewers = ['rita', 'sam', 'tom', 'uma', 'vic', 'wes'];
    const answers = await Promise.all(reviewers.map((r) => claim(reviewId, r)));
    const winners = answers.filter((a) => a.status === 200);
    assert.equal(winners.length, 1);
    assert.deepEqual(
      answers.filter((a) => a.status !== 200).map((a) => a.status),
      Array(reviewers.length - 1).fill(409),
    );
    const winner = winners[0]!.body.claimedBy as string;
    assert.ok(reviewers.includes(winner));
    const claims = h.audit.filter((e) => e.inferenceId === inferenceId && e.eventType === 'review.claimed');
    assert.deepEqual(
      claims.map((e) => e.actor.subject),
      [winner],
    );
    const loser = reviewers.find((r) => r !== winner)!;
    assert.equal((await approve(reviewId, loser)).status, 409);
    assert.equal((await approve(reviewId, winner)).status, 200);
  });

  it('an expired lease goes back to the queue and can be reclaimed; the old holder can no longer decide', async () => {
    const { inferenceId, reviewId } = await queuedReview();
    assert.equal((await claim(reviewId, 'rita')).status, 200);
    clock.advance(599_000);
    assert.equal((await claim(reviewId, 'sam')).status, 409, 'still rita’s');
    assert.equal((await claim(reviewId, 'rita')).status, 200, 'the holder may renew');

    clock.advance(600_001);
    const queue = await h.reviewer
      .get('/v1/reviews?state=pending')
      .set('Authorization', reviewerOf(tenant, 'sam'));
    const listed = queue.body.items.find((i: { id: string }) => i.id === reviewId);
    assert.equal(listed.state, 'pending');
    assert.equal(listed.claimedBy, null);
    assert.equal(listed.leaseExpiresAt, null);
    const stillClaimed = await h.reviewer
      .get('/v1/reviews?state=claimed')
      .set('Authorization', reviewerOf(tenant, 'sam'));
    assert.deepEqual(stillClaimed.body.items, []);

    const taken = await claim(reviewId, 'sam');
    assert.equal(taken.status, 200);
    assert.equal(taken.body.claimedBy, 'sam');
    assert.equal(taken.body.leaseExpiresAt, new Date(clock.now() + 600_000).toISOString());
    assert.equal((await approve(reviewId, 'rita')).status, 409);
    assert.equal((await approve(reviewId, 'sam')).status, 200);

    const inference = await h.inference
      .get(`/v1/inferences/${inferenceId}`)
      .set('Authorization', `Bearer dev:${tenant}:clinician:alice`);
    assert.equal(inference.body.review.reviewer, 'sam');
    assert.deepEqual(
      h.audit
        .filter((e) => e.inferenceId === inferenceId && e.eventType.startsWith('review.'))
        .map((e) => [e.eventType, e.actor.subject]),
      [
        ['review.enqueued', 'review-intake'],
        ['review.claimed', 'rita'],
        ['review.claimed', 'rita'],
        ['review.claimed', 'sam'],
        ['review.decided', 'sam'],
      ],
    );
  });
});
