import assert from 'node:assert/strict';
import { PubSubReviewPublisher } from '../../functions/src/adapters/pubsub/pubSubReviewPublisher.js';
import type {
  ReviewPublisher,
  ReviewRequestMessage,
} from '../../functions/src/core/review/reviewPublisher.js';
import { manualClock, startModelServers, uniqueTenant } from '../support/gatewayHarness.js';
import { type ReviewHarness, reviewerOf, startReviewHarness, submit } from '../support/reviewHarness.js';

type Models = Awaited<ReturnType<typeof startModelServers>>;

/**
 * A review request Pub/Sub accepted but never got to the intake (dead-lettered while the intake was down,
 * expired, or dropped by an emulator): the outbox counts it delivered, so only the reconciliation in the
 * scheduled sweep can notice that the item never appeared. The real pipeline (Firestore and Pub/Sub
 * emulators, the intake behind a push subscription), with a publisher that loses review requests until told
 * otherwise, and a clock the test moves past the grace.
 */
describe('review request reconciliation: a request accepted but never taken in is sent again (emulators)', () => {
  let models: Models;
  let h: ReviewHarness;
  const tenant = uniqueTenant();
  // Older than anything other tests leave in the shared emulator, so that this test's sweeps find only its own.
  const clock = manualClock(new Date('2025-06-02T09:00:00Z'));
  const GRACE_S = 300;

  // Accepts review requests and, while `losing`, drops them (as a dead-lettered message is lost to the intake).
  const lost: ReviewRequestMessage[] = [];
  let losing = true;
  let real: ReviewPublisher | null = null;
  const publisher: ReviewPublisher = {
    requestReview: async (message, attributes) => {
      if (losing) lost.push(message);
      else await real!.requestReview(message, attributes);
    },
    escalate: (message) => real!.escalate(message),
    publishEvent: (message) => real!.publishEvent(message),
  };

  before(async () => {
    models = await startModelServers();
    await models.a.setBehaviour({ confidence: 0.4 });
    h = await startReviewHarness({
      models,
      clock: clock.now,
      publisher,
      env: { REVIEW_OUTBOX_MIN_AGE_SECONDS: '0', REVIEW_INTAKE_GRACE_SECONDS: String(GRACE_S) },
    });
    real = new PubSubReviewPublisher(h.pubsub, h.config.review.topics, {
      timeoutMs: h.config.review.publishTimeoutMs,
    });
  });
  after(async () => {
    await h?.close();
    await models?.close();
  });

  const sweep = async () => {
    const res = await h.jobs.post('/jobs/sweep-review-outbox').set('Authorization', h.serviceToken());
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body as { delivered: number; failed: number; resent: number };
  };
  const listed = async (inferenceId: string) => {
    const res = await h.reviewer.get('/v1/reviews?state=pending').set('Authorization', reviewerOf(tenant));
    assert.equal(res.status, 200);
    return (res.body.items as { inferenceId: string }[]).some((i) => i.inferenceId === inferenceId);
  };
  const eventsOf = (inferenceId: string) =>
    h.audit.filter((e) => e.inferenceId === inferenceId).sort((a, b) => a.sequence! - b.sequence!);

  it('is not re-sent within the grace, is re-sent (audited) after it, and is then listed exactly once', async () => {
    const answer = await submit(h, tenant);
    assert.equal(answer.status, 202);
    const id = answer.body.id as string;

    // Pub/Sub accepted the request: the outbox is done with it, and no item exists.
    assert.deepEqual(
      lost.map((m) => m.inferenceId),
      [id],
    );
    const entry = await h.firestore.collection('reviewOutbox').doc(id).get();
    assert.equal(entry.get('published'), true);
    assert.equal(await listed(id), false);

    // Within the grace the request may just be slow: nothing is re-sent.
    clock.advance((GRACE_S - 1) * 1000);
    assert.equal((await sweep()).resent, 0);
    assert.equal(eventsOf(id).filter((e) => e.eventType === 'review.request_resent').length, 0);

    // Past the grace it counts as lost: re-sent once, through the real topic to the intake this time.
    losing = false;
    clock.advance(2_000);
    const takenIn = h.takenIn(id);
    assert.equal((await sweep()).resent, 1);
    await takenIn;
    assert.equal(await listed(id), true);

    // On the inference's chain, in order: the answer, the re-send, the intake's enqueue.
    const events = eventsOf(id);
    assert.deepEqual(
      events.map((e) => [e.sequence, e.eventType]),
      [
        [1, 'inference.routed_to_review'],
        [2, 'review.request_resent'],
        [3, 'review.enqueued'],
      ],
    );
    assert.equal(events[1]!.prevHash, events[0]!.hash);
    assert.equal(events[2]!.prevHash, events[1]!.hash);
    assert.equal(events[1]!.actor.role, 'system');
    const inference = await h.firestore.collection('inferences').doc(id).get();
    assert.equal(inference.get('reviewRequestedAt'), null);

    // Taken in: never re-sent again, however late the next sweeps.
    clock.advance(3 * GRACE_S * 1000);
    assert.equal((await sweep()).resent, 0);
    const items = await h.firestore.collection('reviews').where('inferenceId', '==', id).get();
    assert.equal(items.size, 1);
  });

  it('an inference answered at once (200) never awaits an intake', async () => {
    await models.a.setBehaviour({ confidence: 0.99 });
    try {
      const answer = await submit(h, tenant);
      assert.equal(answer.status, 200);
      const inference = await h.firestore.collection('inferences').doc(answer.body.id).get();
      assert.equal(inference.get('reviewRequestedAt'), null);
      clock.advance(2 * GRACE_S * 1000);
      assert.equal((await sweep()).resent, 0);
    } finally {
      await models.a.setBehaviour({ confidence: 0.4 });
    }
  });
});
