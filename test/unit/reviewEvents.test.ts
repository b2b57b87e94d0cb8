import assert from 'node:assert/strict';
import { DEV_CHAIN_KEY, sealStandalone } from '../../functions/src/core/audit/chain.js';
import { AUDIT_SCHEMA_VERSION, type AuditEvent } from '../../functions/src/core/audit/events.js';
import {
  type OutboxEntry,
  OutboxRelay,
  type OutboxStore,
  outboxEntry,
} from '../../functions/src/core/review/outbox.js';
import {
  type ReviewEventMessage,
  reviewEventMessage,
  reviewEventMessageSchema,
} from '../../functions/src/core/review/reviewEvents.js';
import type { ReviewItem } from '../../functions/src/core/review/reviewItem.js';
import type { ReviewPublisher } from '../../functions/src/core/review/reviewPublisher.js';
import type { TaskScheduler } from '../../functions/src/core/scheduling/taskScheduler.js';

const t0 = new Date('2026-12-01T10:00:00.000Z');

const item = (over: Partial<ReviewItem> = {}): ReviewItem => ({
  id: 'rev_abc',
  inferenceId: 'inf_abc',
  tenant: 'acme',
  task: 'medication-extraction',
  input: { text: 'Metformin 500 mg; patient anxious' },
  proposal: { medications: [{ name: 'metformin', dose: '500 mg', route: null, frequency: null }] },
  confidence: 0.5,
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
  dueAt: new Date(t0.getTime() + 240 * 60_000),
  escalatedAt: null,
  decision: null,
  ...over,
});

function audit(eventType: AuditEvent['eventType'], sequence: number, reviewer: string | null): AuditEvent {
  const event = sealStandalone(
    {
      schemaVersion: AUDIT_SCHEMA_VERSION,
      eventId: `00000000-0000-4000-8000-00000000000${sequence}`,
      eventType,
      timestamp: new Date(t0.getTime() + sequence * 60_000).toISOString(),
      tenant: 'acme',
      actor: { subject: reviewer ?? 'review-intake', tenant: 'acme', role: reviewer ? 'reviewer' : 'system' },
      inferenceId: 'inf_abc',
      gatewayVersion: 'test',
      trace: null,
      task: 'medication-extraction',
      decision: null,
      review: {
        reviewId: 'rev_abc',
        reviewer,
        action: 'claimed',
        reasonCode: null,
        editHash: null,
        dueAt: null,
      },
      breaker: null,
    },
    DEV_CHAIN_KEY,
  );
  return { ...event, sequence };
}

describe('review lifecycle messages', () => {
  it('a decision carries action and reason code, the audit event’s id, time and sequence, and no clinical text', () => {
    const decided = item({
      state: 'edited',
      claimedBy: 'rita',
      decision: {
        action: 'edit',
        reviewer: 'rita',
        reasonCode: 'incomplete',
        note: 'patient anxious about dose',
        output: { medications: [] },
        decidedAt: t0,
      },
    });
    const event = audit('review.decided', 4, 'rita');
    const message = reviewEventMessage(decided, event);
    assert.deepEqual(reviewEventMessageSchema.parse(message), message);
    assert.deepEqual(
      [
        message.eventId,
        message.occurredAt,
        message.sequence,
        message.state,
        message.action,
        message.reasonCode,
      ],
      [event.eventId, event.timestamp, 4, 'edited', 'edit', 'incomplete'],
    );
    const wire = JSON.stringify(message);
    for (const clinical of ['Metformin', 'metformin', 'anxious', '500 mg'])
      assert.ok(!wire.includes(clinical));
  });

  it('a claim whose lease had lapsed when the item was escalated shows as pending, with nobody holding it', () => {
    const lapsed = item({
      state: 'claimed',
      claimedBy: 'rita',
      leaseExpiresAt: new Date(t0.getTime() + 60_000),
      escalatedAt: t0,
    });
    const message = reviewEventMessage(lapsed, audit('review.escalated', 3, null));
    assert.deepEqual([message.state, message.reviewer, message.escalated], ['pending', null, true]);
  });

  it('the schema refuses an action outside a decision and a decision without one', () => {
    const claimed = reviewEventMessage(
      item({ state: 'claimed', claimedBy: 'rita' }),
      audit('review.claimed', 2, 'rita'),
    );
    assert.equal(reviewEventMessageSchema.safeParse({ ...claimed, action: 'approve' }).success, false);
    assert.equal(
      reviewEventMessageSchema.safeParse({ ...claimed, eventType: 'review.decided' }).success,
      false,
    );
    assert.equal(reviewEventMessageSchema.safeParse({ ...claimed, note: 'x' }).success, false);
  });
});

describe('OutboxRelay: review events keep their order per item', () => {
  function relayWith(undelivered: OutboxEntry[]) {
    const published: string[] = [];
    const delivered: string[] = [];
    let failing = new Set<string>();
    const store: OutboxStore = {
      listUndelivered: async () => undelivered.filter((e) => !delivered.includes(e.id)),
      markDelivered: async (id) => {
        delivered.push(id);
      },
      recordFailure: async () => undefined,
      undeliveredEventsOf: async (reviewId) =>
        undelivered.filter(
          (e) => e.kind === 'review_event' && e.reviewId === reviewId && !delivered.includes(e.id),
        ),
    };
    const publisher = {
      publishEvent: async (m: ReviewEventMessage) => {
        if (failing.has(m.eventType)) throw new Error('UNAVAILABLE');
        published.push(m.eventType);
      },
    } as unknown as ReviewPublisher;
    const relay = new OutboxRelay({
      store,
      publisher,
      scheduler: {} as TaskScheduler,
      callbackJob: { url: 'http://jobs/tasks/review-callback', oidc: null },
      deliveryTimeoutMs: 1_000,
      clock: () => t0.getTime(),
    });
    return { relay, published, delivered, failWith: (types: string[]) => (failing = new Set(types)) };
  }

  const entry = (eventType: ReviewEventMessage['eventType'], sequence: number, state: ReviewItem['state']) =>
    outboxEntry.reviewEvent(
      reviewEventMessage(
        item({ state, claimedBy: state === 'pending' ? null : 'rita' }),
        audit(eventType, sequence, state === 'pending' ? null : 'rita'),
      ),
      t0,
    );

  it('publishes an earlier step left undelivered before the step at hand', async () => {
    const claimed = entry('review.claimed', 2, 'claimed');
    const escalated = entry('review.escalated', 3, 'claimed');
    const { relay, published, delivered, failWith } = relayWith([claimed, escalated]);
    failWith(['review.claimed']);
    assert.equal(await relay.deliver(claimed), false);
    failWith([]);
    assert.equal(await relay.deliver(escalated), true);
    assert.deepEqual(published, ['review.claimed', 'review.escalated']);
    assert.deepEqual(delivered, [claimed.id, escalated.id]);
  });

  it('holds a step back while an earlier one still cannot be published', async () => {
    const claimed = entry('review.claimed', 2, 'claimed');
    const escalated = entry('review.escalated', 3, 'claimed');
    const { relay, published, delivered, failWith } = relayWith([claimed, escalated]);
    failWith(['review.claimed']);
    assert.equal(await relay.deliver(escalated), false);
    assert.deepEqual(published, []);
    assert.deepEqual(delivered, []);
  });
});
