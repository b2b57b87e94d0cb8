import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { CloudEvent } from '@google-cloud/functions-framework';
import fc from 'fast-check';
import {
  assertSafeAnswer,
  contentTypes,
  fuzzSeed,
  headerValue,
  hostileJson,
  hostileString,
  rawBody,
  stringsIn,
} from '../support/fuzz.js';
import { uniqueTenant } from '../support/gatewayHarness.js';
import { reviewerOf, submit, useReviewStack } from '../support/reviewHarness.js';

/** Pub/Sub's CloudEvent type (functions/src/events/reviewIntake.ts). */
const PUBSUB_MESSAGE_PUBLISHED = 'google.cloud.pubsub.topic.v1.messagePublished';
/** The review-jobs task paths (functions/src/http/reviewJobsApi.ts). */
const reviewJobPaths = { deadline: '/tasks/review-deadline', callback: '/tasks/review-callback' } as const;

/** The note `submit` sends: clinical text no error may quote. */
const NOTE = 'Patient takes metformin 500 mg PO BID and lisinopril 10 mg daily.';

/**
 * Generated hostile input to the review pipeline (one harness for the file): reviewer decision bodies,
 * review-jobs task bodies, and Pub/Sub messages to the review intake.
 */
describe('hostile review input, generated (fast-check, 1,000 per surface per run)', function () {
  this.timeout(300_000);
  const tenant = uniqueTenant();
  /** Inferences sent to review: their items exist, claimed by rita. */
  const pending: string[] = [];

  const { h } = useReviewStack({ behaviour: { a: { confidence: 0.45 } }, topology: false });
  before(async () => {
    // The intake is called directly here: no push subscription competes with it.
    for (let i = 0; i < 4; i++) {
      const res = await submit(h, tenant);
      assert.equal(res.status, 202);
      const id = res.body.id as string;
      await h.gateway.reviewIntake(
        pubsubEvent(JSON.stringify({ schemaVersion: 1, inferenceId: id, tenant })),
      );
      pending.push(id);
      const claimed = await h.reviewer
        .post(`/v1/reviews/${reviewIdOf(id)}/claim`)
        .set('Authorization', reviewerOf(tenant));
      assert.equal(claimed.status, 200);
    }
  });

  const reviewId = fc.oneof(
    fc.constantFrom(...[0, 1, 2, 3].map((i) => () => reviewIdOf(pending[i]!))).map((f) => f()),
    fc.string({ maxLength: 60 }).map(encodeURIComponent),
    fc.stringMatching(/^[A-Za-z0-9_-]{22}$/).map((s) => `rev_${s}`),
  );

  it('reviewer decisions: never a 5xx, every error problem+json without clinical text', async () => {
    const seed = fuzzSeed('reviewer decision');
    const decision = fc.record(
      {
        action: fc.oneof(fc.constantFrom('approve', 'edit', 'reject'), hostileJson),
        output: hostileJson,
        reasonCode: fc.oneof(fc.constantFrom('incorrect', 'incomplete', 'unsafe', 'other'), hostileJson),
        note: fc.oneof(hostileString, fc.constant(NOTE)),
        extra: hostileJson,
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(
        reviewId,
        rawBody(fc.oneof({ weight: 3, arbitrary: decision }, { weight: 1, arbitrary: hostileJson })),
        contentTypes,
        fc.constantFrom(
          reviewerOf(tenant),
          reviewerOf(tenant, 'sam'),
          reviewerOf('other'),
          `Bearer dev:${tenant}:clinician:al`,
        ),
        async (id, body, contentType, authorization) => {
          let req = h.reviewer.post(`/v1/reviews/${id}/decision`).set('Authorization', authorization);
          if (contentType) req = req.set('Content-Type', contentType);
          const res = await req.send(body);
          assertSafeAnswer(res, [NOTE, body, ...secretsOf(body)]);
        },
      ),
      { numRuns: 1_000, seed },
    );
  });

  it('review-jobs task bodies: never a 5xx, every error problem+json', async () => {
    const seed = fuzzSeed('review-jobs tasks');
    const task = fc.record(
      { reviewId: fc.oneof(reviewId, hostileJson), extra: hostileJson },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(reviewJobPaths.deadline, reviewJobPaths.callback),
        rawBody(fc.oneof(task, hostileJson)),
        contentTypes,
        fc.oneof(
          fc.constant(h.serviceToken()),
          headerValue.map((v) => `Bearer ${v}`),
        ),
        async (path, body, contentType, authorization) => {
          let req = h.jobs.post(path).set('Authorization', authorization);
          if (contentType) req = req.set('Content-Type', contentType);
          const res = await req.send(body);
          assertSafeAnswer(res, [NOTE, ...secretsOf(body)]);
        },
      ),
      { numRuns: 1_000, seed },
    );
  });

  it('review intake: what it cannot read is never acknowledged (dead-lettered), a readable request is never lost', async () => {
    const seed = fuzzSeed('review intake messages');
    const readable = fc.constantFrom(0, 1, 2, 3).map((i) => ({
      json: JSON.stringify({ schemaVersion: 1, inferenceId: pending[i]!, tenant }),
      readable: true,
    }));
    const nearMiss = fc
      .record(
        {
          schemaVersion: fc.oneof(fc.constant(1), hostileJson),
          inferenceId: fc.oneof(fc.constantFrom(...pending.slice(0, 1)), hostileString, hostileJson),
          tenant: fc.oneof(fc.constant(tenant), hostileString, hostileJson),
          extra: hostileJson,
        },
        { requiredKeys: [] },
      )
      .map((v) => ({ json: JSON.stringify(v), readable: false }));
    const garbage = rawBody(hostileJson).map((json) => ({ json, readable: false }));
    const event = fc.record({
      message: fc.oneof(
        { weight: 1, arbitrary: readable },
        { weight: 3, arbitrary: nearMiss },
        { weight: 3, arbitrary: garbage },
      ),
      type: fc.oneof(
        { weight: 9, arbitrary: fc.constant(PUBSUB_MESSAGE_PUBLISHED) },
        { weight: 1, arbitrary: hostileString },
      ),
      encoding: fc.constantFrom('base64', 'base64', 'base64', 'raw', 'missing'),
      attributes: fc.option(fc.dictionary(fc.string({ maxLength: 20 }), fc.string({ maxLength: 50 })), {
        nil: null,
      }),
    });
    await fc.assert(
      fc.asyncProperty(event, async (e) => {
        const data =
          e.encoding === 'missing'
            ? {}
            : {
                message: {
                  data:
                    e.encoding === 'base64' ? Buffer.from(e.message.json).toString('base64') : e.message.json,
                  attributes: e.attributes,
                  messageId: randomUUID(),
                },
              };
        const cloudEvent = { ...pubsubEvent(''), type: e.type, data } as CloudEvent<unknown>;
        const acked = await h.gateway.reviewIntake(cloudEvent).then(
          () => true,
          () => false,
        );
        // What parses as a review request for a pending inference is taken in; anything else is refused,
        // so that Pub/Sub redelivers it until its dead-letter policy sets it aside, never dropped.
        const wellFormed =
          e.encoding === 'base64' && e.type === PUBSUB_MESSAGE_PUBLISHED && isRequestFor(e.message.json);
        assert.equal(
          acked,
          wellFormed,
          `${e.message.json.slice(0, 120)} (${e.encoding}, ${e.type.slice(0, 40)})`,
        );
      }),
      { numRuns: 1_000, seed },
    );
    // Every readable request is still there: one review item per inference, none lost.
    const queue = await h.reviewer
      .get('/v1/reviews?state=claimed&limit=50')
      .set('Authorization', reviewerOf(tenant));
    const listed = new Set(queue.body.items.map((i: { inferenceId: string }) => i.inferenceId));
    for (const id of pending) assert.ok(listed.has(id) || (await decided(id)), `${id} lost`);
  });

  /** A decision test above may have decided an item: it is then no longer claimed, but still exists. */
  async function decided(inferenceId: string): Promise<boolean> {
    const snap = await h.firestore.collection('reviews').doc(reviewIdOf(inferenceId)).get();
    return snap.exists;
  }

  function isRequestFor(json: string): boolean {
    try {
      const v = JSON.parse(json) as Record<string, unknown>;
      return (
        v !== null &&
        typeof v === 'object' &&
        Object.keys(v).length === 3 &&
        v.schemaVersion === 1 &&
        v.tenant === tenant &&
        typeof v.inferenceId === 'string' &&
        pending.includes(v.inferenceId)
      );
    } catch {
      return false;
    }
  }
});

const reviewIdOf = (inferenceId: string) => `rev_${inferenceId.slice(4)}`;

function pubsubEvent(json: string): CloudEvent<unknown> {
  return {
    specversion: '1.0',
    id: randomUUID(),
    source: '//pubsub.googleapis.com/projects/test/topics/review-requests',
    type: PUBSUB_MESSAGE_PUBLISHED,
    data: { message: { data: Buffer.from(json).toString('base64'), messageId: randomUUID() } },
  };
}

function secretsOf(body: string): string[] {
  try {
    return stringsIn(JSON.parse(body));
  } catch {
    return [];
  }
}
