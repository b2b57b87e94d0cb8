import assert from 'node:assert/strict';
import { PubSubReviewPublisher } from '../../functions/src/adapters/pubsub/pubSubReviewPublisher.js';
import type { ReviewEventMessage } from '../../functions/src/core/review/reviewEvents.js';
import type {
  EscalationMessage,
  ReviewPublisher,
  ReviewRequestMessage,
} from '../../functions/src/core/review/reviewPublisher.js';
import { manualClock, uniqueTenant } from '../support/gatewayHarness.js';
import { reviewerOf, submit, useReviewStack } from '../support/reviewHarness.js';

/** Pub/Sub as a test controls it: up (the real emulator topics), or stalled (a publish never answers). */
class SwitchablePublisher implements ReviewPublisher {
  inner: ReviewPublisher | null = null;
  stalled = false;
  attempts = 0;

  requestReview(message: ReviewRequestMessage, attributes: { task: string }): Promise<void> {
    return this.call(() => this.inner!.requestReview(message, attributes));
  }
  escalate(message: EscalationMessage): Promise<void> {
    return this.call(() => this.inner!.escalate(message));
  }
  publishEvent(message: ReviewEventMessage): Promise<void> {
    return this.call(() => this.inner!.publishEvent(message));
  }
  private call(publish: () => Promise<void>): Promise<void> {
    this.attempts++;
    return this.stalled ? new Promise<void>(() => undefined) : publish();
  }
}

describe('review publisher circuit: a stalled Pub/Sub (Firestore and Pub/Sub emulators)', () => {
  const publisher = new SwitchablePublisher();
  const clock = manualClock(new Date());
  const tenant = uniqueTenant();

  const { h } = useReviewStack({
    behaviour: { a: { confidence: 0.45 } },
    publisher,
    clock: clock.now,
    env: { REVIEW_PUBLISH_TIMEOUT_MS: '300' },
  });
  before(async () => {
    publisher.inner = new PubSubReviewPublisher(
      h.pubsub,
      {
        requests: h.topology.requestsTopic,
        escalations: h.topology.escalationsTopic,
        events: h.topology.eventsTopic,
      },
      { timeoutMs: 300 },
    );
  });

  it('skips the publish while it fails, and delivers every skipped item soon after recovery, unswept', async () => {
    publisher.stalled = true;
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await submit(h, tenant));
    assert.deepEqual(
      answers.map((a) => a.status),
      Array(6).fill(202),
    );
    // The first publish waited out its timeout and opened the circuit; the others never tried (the clock
    // stands still, so no probe was due).
    assert.equal(publisher.attempts, 1);

    publisher.stalled = false;
    clock.advance(1_000);
    // No scheduled sweep runs here: the relay's own recovery probes and then delivers everything.
    const ids = answers.map((a) => a.body.id as string);
    await Promise.all(ids.map((id) => h.takenIn(id)));
    const queue = await h.reviewer.get('/v1/reviews?limit=50').set('Authorization', reviewerOf(tenant));
    assert.deepEqual(
      queue.body.items.map((i: { inferenceId: string }) => i.inferenceId).sort(),
      [...ids].sort(),
    );

    // Closed again: the next request publishes at once.
    const next = await submit(h, tenant);
    await h.takenIn(next.body.id);
  });
});
