import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type protos, v1 } from '@google-cloud/pubsub';
import { deadLetterHoldSubscription } from '../../functions/dev/reviewTopology.js';
import { uniqueTenant } from '../support/gatewayHarness.js';
import { eventarcDelivery, reviewerOf, submit, useReviewStack } from '../support/reviewHarness.js';

/**
 * reviewIntake is a Functions Framework CloudEvent function. These tests call it through the framework's own
 * test server (`getTestServer`), with exactly what Pub/Sub delivers: a binary-mode CloudEvent from Eventarc,
 * or a push subscription's body. (firebase-functions-test cannot serve it: its `wrap`/`wrapV2` only accept
 * functions built with the firebase-functions SDK, which carry `run` and `__endpoint`.)
 */

type IPubsubMessage = protos.google.pubsub.v1.IPubsubMessage;

const pubsubData = (json: unknown) => Buffer.from(JSON.stringify(json)).toString('base64');

describe('review intake: redelivery never makes a second item (Functions Framework test server, emulators)', () => {
  // No topics: the review requests stay in the outbox, and this test delivers them by hand.
  const { h } = useReviewStack({
    behaviour: { a: { confidence: 0.4 } },
    topology: false,
    env: { REVIEW_PUBLISH_TIMEOUT_MS: '200' },
  });
  const tenant = uniqueTenant();

  const delivery = (inferenceId: string, messageId: string) =>
    eventarcDelivery(h, { inferenceId, tenant, messageId });

  it('the same Pub/Sub message delivered three times: one review item, one audit event, one deadline task', async () => {
    const res = await submit(h, tenant);
    assert.equal(res.status, 202);
    const inferenceId = res.body.id as string;
    const reviewId = `rev_${inferenceId.slice(4)}`;
    const messageId = randomUUID();

    const deliveries = [];
    for (let i = 0; i < 3; i++) deliveries.push(await delivery(inferenceId, messageId));
    assert.deepEqual(
      deliveries.map((d) => d.status),
      [204, 204, 204],
    );

    const items = await h.firestore.collection('reviews').where('inferenceId', '==', inferenceId).get();
    assert.equal(items.size, 1);
    assert.equal(items.docs[0]!.id, reviewId);
    const enqueued = h.audit.filter(
      (e) => e.inferenceId === inferenceId && e.eventType === 'review.enqueued',
    );
    assert.equal(enqueued.length, 1);
    const tasks = await h.firestore
      .collection('localTasks')
      .where('name', '==', `deadline-${reviewId}`)
      .get();
    assert.equal(tasks.size, 1);
    assert.equal(tasks.docs[0]!.get('url'), `${h.jobsUrl}/tasks/review-deadline`);
    assert.deepEqual(JSON.parse(tasks.docs[0]!.get('bodyJson')), { reviewId });

    const queue = await h.reviewer.get('/v1/reviews').set('Authorization', reviewerOf(tenant));
    assert.deepEqual(
      queue.body.items.map((i: { id: string }) => i.id),
      [reviewId],
    );
  });

  it('takes the push subscription’s body (the emulator’s and a push endpoint’s shape) as the same event', async () => {
    const res = await submit(h, tenant);
    const inferenceId = res.body.id as string;
    const push = await h.intake
      .post(`/projects/${h.config.project}/topics/${h.topology.requestsTopic}`)
      .set('Content-Type', 'application/json')
      .send({
        message: {
          data: pubsubData({ schemaVersion: 1, inferenceId, tenant }),
          attributes: { tenant },
          messageId: '981',
          publishTime: new Date().toISOString(),
        },
        subscription: `projects/${h.config.project}/subscriptions/${h.topology.intakeSubscription}`,
      });
    assert.equal(push.status, 204);
    assert.equal((await delivery(inferenceId, 'another-delivery')).status, 204);
    const items = await h.firestore.collection('reviews').where('inferenceId', '==', inferenceId).get();
    assert.equal(items.size, 1);
  });

  it('refuses (does not acknowledge) messages it can never process, creating nothing', async () => {
    const res = await submit(h, tenant);
    const inferenceId = res.body.id as string;
    const unknown = await delivery('inf_doesNotExist', randomUUID());
    assert.equal(unknown.status, 500);
    assert.doesNotMatch(unknown.text, /stack|at /);
    const forged = await h.intake
      .post('/')
      .set('Content-Type', 'application/json')
      .set('ce-specversion', '1.0')
      .set('ce-id', 'x')
      .set('ce-source', '//pubsub.googleapis.com/projects/p/topics/t')
      .set('ce-type', 'google.cloud.pubsub.topic.v1.messagePublished')
      .send({ message: { data: pubsubData({ schemaVersion: 1, inferenceId, tenant: 'someone-else' }) } });
    assert.equal(forged.status, 500, 'a tenant that does not match the inference');
    const items = await h.firestore.collection('reviews').where('inferenceId', '==', inferenceId).get();
    assert.equal(items.size, 0);
  });
});

describe('review intake: undeliverable messages end in the dead-letter topic (Pub/Sub emulator policy)', () => {
  const { h } = useReviewStack();

  /**
   * The first `count` messages of the dead-letter topic's hold subscription, each acknowledged; or, after
   * `withinMs`, an error that says what did happen: every delivery the intake answered, and the dead letters
   * so far. Unary Pull calls, each with its own deadline, rather than a streaming subscriber: a stalled
   * emulator then fails this test with that account at `withinMs`, not with mocha's bare timeout.
   */
  async function deadLettered(count: number, withinMs: number): Promise<IPubsubMessage[]> {
    const subscriber = new v1.SubscriberClient({ ...h.pubsub.options });
    const subscription = subscriber.subscriptionPath(
      h.config.project,
      deadLetterHoldSubscription(h.topology),
    );
    const received: IPubsubMessage[] = [];
    const deadline = Date.now() + withinMs;
    try {
      while (received.length < count && Date.now() < deadline) {
        const [answer] = await subscriber.pull(
          { subscription, maxMessages: count - received.length },
          { timeout: 5_000, retry: null },
        );
        const messages = answer.receivedMessages ?? [];
        if (messages.length > 0) {
          await subscriber.acknowledge({ subscription, ackIds: messages.map((m) => m.ackId!) });
          received.push(...messages.map((m) => m.message!));
        } else {
          await sleep(250);
        }
      }
    } finally {
      await subscriber.close();
    }
    if (received.length < count) {
      const seen = h.deliveries.map(
        (d) => `${d.at} ms: ${d.attributes.case ?? '?'} ${d.acknowledged ? 'acknowledged' : 'refused'}`,
      );
      const letters = received.map((m) => m.attributes?.case ?? '?').join(', ') || 'none';
      throw new Error(
        `${received.length} of ${count} dead letters (${letters}) within ${withinMs} ms; ` +
          `the intake answered ${seen.length} deliveries:\n  ${seen.join('\n  ')}`,
      );
    }
    return received;
  }

  it('after the subscription’s maximum delivery attempts, not in an endless retry', async function () {
    this.timeout(120_000);
    const topic = h.pubsub.topic(h.topology.requestsTopic);
    await topic.publishMessage({ data: Buffer.from('{"inferenceId":'), attributes: { case: 'not-json' } });
    await topic.publishMessage({
      json: { schemaVersion: 1, inferenceId: 'inf_neverExisted', tenant: 'acme' },
      attributes: { case: 'unknown-inference' },
    });
    const deadLetters = await deadLettered(2, 110_000);
    assert.deepEqual(deadLetters.map((m) => m.attributes?.case).sort(), ['not-json', 'unknown-inference']);
    for (const message of deadLetters) {
      assert.equal(
        message.attributes?.CloudPubSubDeadLetterSourceDeliveryCount,
        String(h.config.review.maxDeliveryAttempts),
      );
      assert.equal(
        message.attributes?.CloudPubSubDeadLetterSourceSubscription,
        h.topology.intakeSubscription,
      );
      // Each attempt reached the intake, which refused it every time: none was lost on the way, none taken.
      const attempts = h.deliveries.filter((d) => d.attributes.case === message.attributes?.case);
      assert.equal(attempts.length, h.config.review.maxDeliveryAttempts);
      assert.ok(attempts.every((d) => !d.acknowledged));
    }
    const items = await h.firestore
      .collection('reviews')
      .where('inferenceId', '==', 'inf_neverExisted')
      .get();
    assert.equal(items.size, 0);
  });
});
