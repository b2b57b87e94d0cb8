import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../functions/dev/emulators.js';
import {
  createTenantSubscription,
  type ReviewEvent,
  subscribeToDecisions,
} from '../../functions/dev/examples/reviewDecisionsSubscriber.js';
import { uniqueTenant } from '../support/gatewayHarness.js';
import { reviewerOf, submit, useReviewStack } from '../support/reviewHarness.js';

/** A promise and the function that settles it, for awaiting what a callback will see. */
function signal<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/**
 * The review lifecycle topic as an outside subscriber uses it: the example subscriber
 * (functions/dev/examples/, written from docs/asyncapi.json) pulls one tenant's events from the Pub/Sub
 * emulator while a full review runs through the real pipeline, and sees every step in order, the decision
 * exactly as documented, no clinical text, and a republished step as the duplicate it is.
 */
describe('review-events: an outside subscriber follows a full review (emulators, local models)', () => {
  const { h } = useReviewStack({ behaviour: { a: { confidence: 0.5 } } });

  const asyncApi = JSON.parse(readFileSync(join(PROJECT_ROOT, 'docs', 'asyncapi.json'), 'utf8')) as {
    components: {
      messages: {
        ReviewEvent: {
          payload: { required: string[] };
          headers: { required: string[] };
          examples: { name: string; payload: Record<string, unknown> }[];
        };
      };
    };
  };

  /** Submits, waits for the item, claims it and decides it; answers the ids. */
  async function fullReview(tenant: string, decision: Record<string, unknown>) {
    const submitted = await submit(h, tenant, {
      input: { text: 'Metformin 500 mg twice daily; patient reports dizziness after lisinopril.' },
    });
    assert.equal(submitted.status, 202);
    const inferenceId = submitted.body.id as string;
    await h.takenIn(inferenceId);
    const reviewId = `rev_${inferenceId.slice('inf_'.length)}`;
    const claimed = await h.reviewer
      .post(`/v1/reviews/${reviewId}/claim`)
      .set('Authorization', reviewerOf(tenant));
    assert.equal(claimed.status, 200);
    const decided = await h.reviewer
      .post(`/v1/reviews/${reviewId}/decision`)
      .set('Authorization', reviewerOf(tenant))
      .set('Content-Type', 'application/json')
      .send(JSON.stringify(decision));
    assert.equal(decided.status, 200);
    return { inferenceId, reviewId, dueAt: claimed.body.dueAt as string };
  }

  it('sees enqueued, claimed and decided in order, the decision exactly as documented, and a republished decision once', async () => {
    const tenant = uniqueTenant();
    const other = uniqueTenant();
    const subscription = `review-events-${tenant}-${randomUUID().slice(0, 8)}`;
    await createTenantSubscription(h.pubsub, h.config.review.topics.events, subscription, tenant);

    const events: { event: ReviewEvent; attributes: Readonly<Record<string, string>> }[] = [];
    const decisions: ReviewEvent[] = [];
    const firstDecision = signal<ReviewEvent>();
    const duplicate = signal<ReviewEvent>();
    const foreign = signal<Readonly<Record<string, string>>>();
    const listening = subscribeToDecisions({
      pubsub: h.pubsub,
      subscription,
      tenant,
      onEvent: (event, attributes) => events.push({ event, attributes }),
      onDecision: (event) => {
        decisions.push(event);
        firstDecision.resolve(event);
      },
      onDuplicate: (event) => duplicate.resolve(event),
      onForeign: (attributes) => {
        if (attributes.tenant === other) foreign.resolve(attributes);
      },
    });
    try {
      // Another tenant's review first: the emulator does not apply subscription filters, so its messages
      // reach this subscription, and the subscriber must drop them.
      await fullReview(other, { action: 'approve' });
      const note = 'Patient reports dizziness; lisinopril dose questioned.';
      const { inferenceId, reviewId, dueAt } = await fullReview(tenant, {
        action: 'edit',
        reasonCode: 'incomplete',
        note,
        output: {
          medications: [{ name: 'metformin', dose: '500 mg', route: 'oral', frequency: 'twice daily' }],
        },
      });

      const decided = await firstDecision.promise;
      const audited = h.audit.find((e) => e.inferenceId === inferenceId && e.eventType === 'review.decided')!;
      assert.ok(audited);
      assert.deepEqual(decided, {
        schemaVersion: 1,
        eventId: audited.eventId,
        eventType: 'review.decided',
        occurredAt: audited.timestamp,
        reviewId,
        inferenceId,
        tenant,
        task: 'medication-extraction',
        state: 'edited',
        sequence: audited.sequence,
        dueAt,
        escalated: false,
        sampled: false,
        reviewer: 'rita',
        action: 'edit',
        reasonCode: 'incomplete',
      });
      // Exactly the documented fields and attributes, nothing more.
      const documented = asyncApi.components.messages.ReviewEvent;
      assert.deepEqual(Object.keys(decided).sort(), [...documented.payload.required].sort());
      const example = documented.examples.find((e) => e.name === 'decided')!.payload;
      assert.deepEqual(Object.keys(decided), Object.keys(example));
      const mine = events.filter((e) => e.event.reviewId === reviewId);
      assert.deepEqual(mine.at(-1)!.attributes, {
        tenant,
        task: 'medication-extraction',
        eventType: 'review.decided',
        schemaVersion: '1',
      });

      // Every step of the item, in order, each with its audit event's id and a growing sequence.
      assert.deepEqual(
        mine.map((e) => [e.event.eventType, e.event.state, e.event.reviewer]),
        [
          ['review.enqueued', 'pending', null],
          ['review.claimed', 'claimed', 'rita'],
          ['review.decided', 'edited', 'rita'],
        ],
      );
      const chain = h.audit.filter((e) => e.inferenceId === inferenceId && e.eventType.startsWith('review.'));
      assert.deepEqual(
        mine.map((e) => [e.event.eventId, e.event.sequence]),
        chain.map((e) => [e.eventId, e.sequence]),
      );

      // No clinical text in any message: not the input, not the edited output, not the note.
      const wire = JSON.stringify(events);
      for (const clinical of ['Metformin', 'metformin', 'dizziness', 'lisinopril', '500 mg', note]) {
        assert.ok(!wire.includes(clinical), `a message carries "${clinical}"`);
      }

      // The other tenant's decision reached the subscription and was dropped, never reported.
      assert.equal((await foreign.promise).tenant, other);
      assert.ok(events.every((e) => e.event.tenant === tenant));

      // A publisher that died after publishing but before marking the outbox entry delivered: the sweeper
      // publishes the decision again, with the same eventId, and the subscriber acts on it only once.
      const entryId = `${reviewId}.event.${decided.eventId}`;
      await h.firestore
        .collection('reviewOutbox')
        .doc(entryId)
        .update({ published: false, createdAt: new Date(Date.now() - 3_600_000) });
      const swept = await h.jobs.post('/jobs/sweep-review-outbox').set('Authorization', h.serviceToken());
      assert.equal(swept.status, 200);
      assert.ok(swept.body.delivered >= 1);
      const again = await duplicate.promise;
      assert.equal(again.eventId, decided.eventId);
      assert.deepEqual(again, decided);
      assert.equal(decisions.length, 1);
    } finally {
      await listening.stop();
      await h.pubsub
        .subscription(subscription)
        .delete()
        .catch(() => undefined);
    }
  });
});
