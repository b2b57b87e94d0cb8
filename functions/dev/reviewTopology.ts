/**
 * The review pipeline's Pub/Sub resources, created in the emulator by the local stack and the tests; in
 * production Terraform creates the same ones:
 *
 *   REVIEW_TOPIC ──push subscription REVIEW_INTAKE_SUBSCRIPTION──▶ reviewIntake  (POST <intake>/projects/P/topics/T)
 *        │            dead-letter policy: after REVIEW_MAX_DELIVERY_ATTEMPTS ──▶ REVIEW_DEAD_LETTER_TOPIC
 *        │                                                                        └─ subscription <topic>-hold
 *   ESCALATION_TOPIC ── subscription <topic>-operators (pull; what operators watch)
 *   REVIEW_EVENTS_TOPIC ── subscription <topic>-operators (pull, ordered; dead-letter policy ──▶
 *        │                  <topic>-dead-letter, kept by <topic>-dead-letter-hold)
 *        └─ outside subscribers' own subscriptions (docs/events.md; functions/dev/examples/)
 *
 * Each published topic gets its Pub/Sub schema (messageContracts.ts) where the emulator can take it: the
 * emulator answers UNIMPLEMENTED to a Protocol Buffers schema, so locally the topics have none and the
 * publisher's own check against the same schema (protoSchema.ts) is what holds messages to it.
 *
 * The push subscription is what makes local delivery equal production's: the emulator pushes the same body a
 * push subscription sends, retries a failed delivery with the subscription's backoff, counts attempts and
 * moves a message that keeps failing to the dead-letter topic, all by the same policy as in production.
 */
import { Encodings, type PubSub, SchemaTypes, type Topic } from '@google-cloud/pubsub';
import { protoDefinition } from '../src/adapters/pubsub/protoSchema.js';
import { contractOf, type MessageContract } from '../src/core/review/messageContracts.js';

export type ReviewTopology = {
  projectId: string;
  requestsTopic: string;
  deadLetterTopic: string;
  escalationsTopic: string;
  /** The review lifecycle topic for outside subscribers. */
  eventsTopic: string;
  intakeSubscription: string;
  /** Base URL of the reviewIntake function, e.g. http://127.0.0.1:8083. */
  intakeUrl: string;
  maxDeliveryAttempts: number;
  /** Redelivery backoff after a failed push. */
  retry: { minimumBackoffSeconds: number; maximumBackoffSeconds: number };
};

const ALREADY_EXISTS = 6;
const UNIMPLEMENTED = 12;

export const deadLetterHoldSubscription = (t: ReviewTopology): string => `${t.deadLetterTopic}-hold`;
export const escalationOperatorsSubscription = (t: ReviewTopology): string =>
  `${t.escalationsTopic}-operators`;
export const eventsOperatorsSubscription = (t: ReviewTopology): string => `${t.eventsTopic}-operators`;
export const eventsDeadLetterTopic = (t: ReviewTopology): string => `${t.eventsTopic}-dead-letter`;

/** Creates whatever of the topology is missing, and points the intake subscription at `intakeUrl`. */
export async function ensureReviewTopology(pubsub: PubSub, t: ReviewTopology): Promise<void> {
  const [requests, deadLetter, escalations, events, eventsDeadLetter] = await Promise.all([
    ensureTopic(pubsub, t.requestsTopic, contractOf('review_requests')),
    ensureTopic(pubsub, t.deadLetterTopic, null),
    ensureTopic(pubsub, t.escalationsTopic, contractOf('review_escalations')),
    ensureTopic(pubsub, t.eventsTopic, contractOf('review_events')),
    ensureTopic(pubsub, eventsDeadLetterTopic(t), null),
  ]);
  await ensureSubscription(deadLetter!, deadLetterHoldSubscription(t), {});
  await ensureSubscription(escalations!, escalationOperatorsSubscription(t), {});
  await ensureSubscription(eventsDeadLetter!, `${eventsDeadLetterTopic(t)}-hold`, {});
  await ensureSubscription(events!, eventsOperatorsSubscription(t), {
    enableMessageOrdering: true,
    deadLetterPolicy: {
      deadLetterTopic: eventsDeadLetter!.name,
      maxDeliveryAttempts: t.maxDeliveryAttempts,
    },
  });
  const pushConfig = {
    // The Functions Framework reads the topic from this path when it turns the push into a CloudEvent.
    pushEndpoint: `${t.intakeUrl.replace(/\/+$/, '')}/projects/${t.projectId}/topics/${t.requestsTopic}`,
  };
  const intake = await ensureSubscription(requests!, t.intakeSubscription, {
    pushConfig,
    ackDeadlineSeconds: 60,
    deadLetterPolicy: { deadLetterTopic: deadLetter!.name, maxDeliveryAttempts: t.maxDeliveryAttempts },
    retryPolicy: {
      minimumBackoff: { seconds: t.retry.minimumBackoffSeconds },
      maximumBackoff: { seconds: t.retry.maximumBackoffSeconds },
    },
  });
  await intake.modifyPushConfig(pushConfig);
}

async function ensureTopic(pubsub: PubSub, name: string, contract: MessageContract | null): Promise<Topic> {
  const schema = contract ? await ensureSchema(pubsub, name, contract) : null;
  try {
    const [topic] = await pubsub.createTopic(
      schema ? { name, schemaSettings: { schema, encoding: Encodings.Json } } : name,
    );
    return topic;
  } catch (e) {
    if ((e as { code?: unknown }).code !== ALREADY_EXISTS) throw e;
    return pubsub.topic(name);
  }
}

/** The schema's full name, or null where the emulator does not implement Protocol Buffers schemas. */
async function ensureSchema(pubsub: PubSub, id: string, contract: MessageContract): Promise<string | null> {
  try {
    const schema = await pubsub.createSchema(id, SchemaTypes.ProtocolBuffer, protoDefinition(contract));
    return await schema.getName();
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (code === UNIMPLEMENTED) return null;
    if (code !== ALREADY_EXISTS) throw e;
    return `projects/${await pubsub.getClientConfig().then((c) => c.projectId)}/schemas/${id}`;
  }
}

async function ensureSubscription(
  topic: Topic,
  name: string,
  options: Parameters<Topic['createSubscription']>[1] & object,
) {
  try {
    const [subscription] = await topic.createSubscription(name, options);
    return subscription;
  } catch (e) {
    if ((e as { code?: unknown }).code !== ALREADY_EXISTS) throw e;
    return topic.subscription(name);
  }
}
