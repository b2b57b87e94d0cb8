import assert from 'node:assert/strict';
import type { CloudEvent } from '@google-cloud/functions-framework';
import { DependencyUnavailableError, isGatewayError } from '../../functions/src/core/errors.js';
import { backoffDelayMs, withTimeout } from '../../functions/src/core/retry.js';
import {
  effectiveState,
  inferenceIdFor,
  type ReviewItem,
  reviewIdFor,
  toView,
} from '../../functions/src/core/review/reviewItem.js';
import {
  PUBSUB_MESSAGE_PUBLISHED,
  parseReviewRequestEvent,
} from '../../functions/src/events/reviewIntake.js';

const t0 = new Date('2026-11-27T09:00:00Z');
const at = (minutes: number) => new Date(t0.getTime() + minutes * 60_000);

const item = (over: Partial<ReviewItem> = {}): ReviewItem => ({
  id: 'rev_abc',
  inferenceId: 'inf_abc',
  tenant: 'acme',
  task: 'medication-extraction',
  input: { text: 'note' },
  proposal: { medications: [] },
  confidence: 0.4,
  threshold: 0.8,
  scoreBasis: 'logprobs',
  sampled: false,
  provider: 'local-a',
  model: 'm',
  state: 'pending',
  claimedBy: null,
  leaseExpiresAt: null,
  createdAt: t0,
  enqueuedAt: t0,
  dueAt: at(240),
  escalatedAt: null,
  decision: null,
  ...over,
});

describe('review items', () => {
  it('derive the review id from the inference id, and back', () => {
    assert.equal(reviewIdFor('inf_Q2x-9_z'), 'rev_Q2x-9_z');
    assert.equal(inferenceIdFor('rev_Q2x-9_z'), 'inf_Q2x-9_z');
    assert.throws(() => reviewIdFor('rev_Q2x'));
    assert.throws(() => reviewIdFor('inf_../x'));
    assert.throws(() => inferenceIdFor('inf_Q2x'));
  });

  it('show a live claim as claimed, and a lapsed one as pending without its holder', () => {
    const claimed = item({ state: 'claimed', claimedBy: 'rita', leaseExpiresAt: at(10) });
    assert.equal(effectiveState(claimed, at(9)), 'claimed');
    assert.equal(toView(claimed, at(9)).claimedBy, 'rita');
    assert.equal(toView(claimed, at(9)).leaseExpiresAt, at(10).toISOString());
    assert.equal(effectiveState(claimed, at(10)), 'pending');
    const lapsed = toView(claimed, at(11));
    assert.equal(lapsed.state, 'pending');
    assert.equal(lapsed.claimedBy, null);
    assert.equal(lapsed.leaseExpiresAt, null);
  });

  it('keep the deciding reviewer on a decided item, and show the model proposal as output', () => {
    const decided = item({
      state: 'edited',
      claimedBy: 'rita',
      decision: {
        action: 'edit',
        reviewer: 'rita',
        reasonCode: 'incomplete',
        note: null,
        output: { medications: [{ name: 'x', dose: null, route: null, frequency: null }] },
        decidedAt: at(5),
      },
    });
    const view = toView(decided, at(6));
    assert.equal(view.state, 'edited');
    assert.equal(view.claimedBy, 'rita');
    assert.deepEqual(view.output, { medications: [] });
    assert.equal(view.decision?.decidedAt, at(5).toISOString());
  });
});

describe('retry timing', () => {
  it('doubles from the minimum up to the cap', () => {
    const backoff = { minMs: 1_000, maxMs: 10_000 };
    assert.deepEqual(
      [1, 2, 3, 4, 5, 40].map((n) => backoffDelayMs(n, backoff)),
      [1_000, 2_000, 4_000, 8_000, 10_000, 10_000],
    );
  });

  it('gives up waiting with a retryable error, and never leaves an unhandled rejection', async () => {
    let fail: (e: Error) => void = () => undefined;
    const slow = new Promise<never>((_, reject) => {
      fail = reject;
    });
    await assert.rejects(
      withTimeout(slow, 5, () => new DependencyUnavailableError('Pub/Sub')),
      (e: unknown) => isGatewayError(e, 'dependency_unavailable'),
    );
    fail(new Error('late failure'));
    assert.equal(await withTimeout(Promise.resolve(7), 1_000, () => new Error('unused')), 7);
  });
});

describe('parseReviewRequestEvent', () => {
  const event = (data: unknown, type = PUBSUB_MESSAGE_PUBLISHED): CloudEvent<unknown> => ({
    specversion: '1.0',
    id: '42',
    source: '//pubsub.googleapis.com/projects/p/topics/review-requests',
    type,
    data,
  });
  const encoded = (json: unknown) => Buffer.from(JSON.stringify(json)).toString('base64');
  const valid = { schemaVersion: 1, inferenceId: 'inf_abc', tenant: 'acme' };

  it('reads the ids-only review request of a Pub/Sub message', () => {
    const message = { data: encoded(valid), messageId: '42', attributes: { task: 'clinical-summary' } };
    assert.deepEqual(
      parseReviewRequestEvent(event({ message, subscription: 'projects/p/subscriptions/s' })),
      valid,
    );
  });

  const invalid: [string, CloudEvent<unknown>][] = [
    [
      'another event type',
      event({ message: { data: encoded(valid) } }, 'google.cloud.storage.object.v1.finalized'),
    ],
    ['no message', event({})],
    ['no data', event({ message: { messageId: '1' } })],
    [
      'data that is not JSON',
      event({ message: { data: Buffer.from('{"inferenceId":').toString('base64') } }),
    ],
    ['an unknown schema version', event({ message: { data: encoded({ ...valid, schemaVersion: 2 }) } })],
    [
      'a malformed inference id',
      event({ message: { data: encoded({ ...valid, inferenceId: 'inf_../../x' }) } }),
    ],
    [
      'extra fields (no clinical text travels in messages)',
      event({ message: { data: encoded({ ...valid, text: 'x' }) } }),
    ],
  ];
  for (const [what, e] of invalid) {
    it(`refuses ${what} as permanently invalid`, () => {
      assert.throws(
        () => parseReviewRequestEvent(e),
        (e: unknown) => isGatewayError(e, 'validation'),
      );
    });
  }
});
