/**
 * An example subscriber of the `review-events` topic, written from docs/asyncapi.json alone (it imports
 * nothing of the gateway): it pulls one tenant's review lifecycle events and prints every decision as one
 * JSON line. Run it against the local stack (`npm start` in another terminal):
 *
 *   PUBSUB_EMULATOR_HOST=127.0.0.1:8185 npx tsx functions/dev/examples/reviewDecisionsSubscriber.ts --tenant acme
 *
 * In production, pass the subscription Terraform made for your group (`--subscription review-events-<name>`,
 * already filtered on your tenant; you may consume it, not create one). Against the emulator the program
 * creates its own subscription, filtered on `attributes.tenant` and ordered.
 *
 * What a subscriber must do, per the contract:
 * - deduplicate by `eventId`: a step may be delivered more than once (a redelivery, or a republish after a
 *   publisher crash), always with the same `eventId`; here a set in memory, in real use a durable store;
 * - expect one item's steps in order (ordering key `reviewId`, increasing `sequence`), but tolerate a late
 *   duplicate of an earlier step (it is a duplicate: ignore it);
 * - read the inference itself, if it needs the output, through the API with its own identity: messages
 *   carry no clinical text.
 */
import { parseArgs } from 'node:util';
import { type Message, PubSub, type Subscription } from '@google-cloud/pubsub';

export type ReviewEvent = {
  schemaVersion: 1;
  eventId: string;
  eventType: 'review.enqueued' | 'review.claimed' | 'review.decided' | 'review.escalated';
  occurredAt: string;
  reviewId: string;
  inferenceId: string;
  tenant: string;
  task: string;
  state: 'pending' | 'claimed' | 'approved' | 'edited' | 'rejected';
  sequence: number;
  dueAt: string;
  escalated: boolean;
  sampled: boolean;
  reviewer: string | null;
  action: 'approve' | 'edit' | 'reject' | null;
  reasonCode: 'incorrect' | 'incomplete' | 'unsafe' | 'other' | null;
};

export type DecisionSubscriberOptions = {
  pubsub: PubSub;
  subscription: string;
  tenant: string;
  /** Every new step of the tenant's items, in arrival order (decisions included), with its attributes. */
  onEvent?: (event: ReviewEvent, attributes: Readonly<Record<string, string>>) => void;
  /** Another tenant's message (only where the filter is not applied, as on the emulator), dropped. */
  onForeign?: (attributes: Readonly<Record<string, string>>) => void;
  /** Each decision, once. */
  onDecision: (event: ReviewEvent) => void;
  /** A message already seen (same `eventId`), acknowledged and ignored. */
  onDuplicate?: (event: ReviewEvent) => void;
  /** A message that is not a review event of schema version 1 (refused: after the subscription's delivery attempts it dead-letters). */
  onUnreadable?: (message: Message) => void;
};

/** Creates a tenant's filtered, ordered subscription (emulator, or a project where you may create one). */
export async function createTenantSubscription(
  pubsub: PubSub,
  topic: string,
  name: string,
  tenant: string,
): Promise<Subscription> {
  const [subscription] = await pubsub.topic(topic).createSubscription(name, {
    filter: `attributes.tenant = ${JSON.stringify(tenant)}`,
    enableMessageOrdering: true,
    ackDeadlineSeconds: 60,
  });
  return subscription;
}

/** Listens (streaming pull) until `stop()`; returns the ids it has seen. */
export function subscribeToDecisions(options: DecisionSubscriberOptions): {
  seen: ReadonlySet<string>;
  stop: () => Promise<void>;
} {
  const seen = new Set<string>();
  const subscription = options.pubsub.subscription(options.subscription);
  subscription.on('message', (message: Message) => {
    // The subscription's filter keeps other tenants out in production; the Pub/Sub emulator stores filters
    // but does not apply them, and checking costs nothing.
    if (message.attributes.tenant !== options.tenant) {
      options.onForeign?.(message.attributes);
      message.ack();
      return;
    }
    let event: ReviewEvent;
    try {
      event = JSON.parse(message.data.toString('utf8')) as ReviewEvent;
    } catch {
      options.onUnreadable?.(message);
      message.nack();
      return;
    }
    if (event.schemaVersion !== 1 || typeof event.eventId !== 'string' || event.tenant !== options.tenant) {
      options.onUnreadable?.(message);
      message.nack();
      return;
    }
    if (seen.has(event.eventId)) {
      options.onDuplicate?.(event);
      message.ack();
      return;
    }
    seen.add(event.eventId);
    options.onEvent?.(event, message.attributes);
    if (event.eventType === 'review.decided') options.onDecision(event);
    message.ack();
  });
  subscription.on('error', (error: Error) => {
    console.error(`subscriber error: ${error.message}`);
  });
  return { seen, stop: () => subscription.close() };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      tenant: { type: 'string' },
      topic: { type: 'string', default: 'review-events' },
      subscription: { type: 'string' },
      project: { type: 'string', default: process.env.GOOGLE_CLOUD_PROJECT ?? 'demo-clinical-gateway' },
    },
  });
  if (!values.tenant) throw new Error('--tenant is required');
  const emulator = process.env.PUBSUB_EMULATOR_HOST;
  const pubsub = new PubSub({
    projectId: values.project,
    ...(emulator ? { apiEndpoint: emulator, emulatorMode: true } : {}),
  });
  let name = values.subscription;
  if (!name) {
    if (!emulator) throw new Error('--subscription is required outside the emulator');
    name = `${values.topic}-${values.tenant}-decisions-${process.pid}`;
    await createTenantSubscription(pubsub, values.topic, name, values.tenant);
  }
  const listening = subscribeToDecisions({
    pubsub,
    subscription: name,
    tenant: values.tenant,
    onDecision: (e) =>
      console.log(
        JSON.stringify({
          reviewId: e.reviewId,
          inferenceId: e.inferenceId,
          action: e.action,
          reasonCode: e.reasonCode,
          reviewer: e.reviewer,
          decidedAt: e.occurredAt,
        }),
      ),
  });
  console.error(`listening on ${name} for tenant ${values.tenant}; Ctrl-C to stop`);
  process.once('SIGINT', () => {
    void listening.stop().then(async () => {
      if (!values.subscription) await pubsub.subscription(name).delete();
      await pubsub.close();
    });
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exitCode = 1;
  });
}
