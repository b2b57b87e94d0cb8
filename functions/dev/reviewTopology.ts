/**
 * The review pipeline's Pub/Sub resources, created in the emulator by the local stack and the tests; in
 * production Terraform creates the same ones:
 *
 *   REVIEW_TOPIC ──push subscription REVIEW_INTAKE_SUBSCRIPTION──▶ reviewIntake  (POST <intake>/projects/P/topics/T)
 *        │            dead-letter policy: after REVIEW_MAX_DELIVERY_ATTEMPTS ──▶ REVIEW_DEAD_LETTER_TOPIC
 *        │                                                                        └─ subscription <topic>-hold
 *   ESCALATION_TOPIC ── subscription <topic>-operators (pull; what operators watch)
 *
 * The push subscription is what makes local delivery equal production's: the emulator pushes the same body a
 * push subscription sends, retries a failed delivery with the subscription's backoff, counts attempts and
 * moves a message that keeps failing to the dead-letter topic, all by the same policy as in production.
 */
import type { PubSub, Topic } from '@google-cloud/pubsub';

export type ReviewTopology = {
  projectId: string;
  requestsTopic: string;
  deadLetterTopic: string;
  escalationsTopic: string;
  intakeSubscription: string;
  /** Base URL of the reviewIntake function, e.g. http://127.0.0.1:8083. */
  intakeUrl: string;
  maxDeliveryAttempts: number;
  /** Redelivery backoff after a failed push. */
  retry: { minimumBackoffSeconds: number; maximumBackoffSeconds: number };
};

const ALREADY_EXISTS = 6;

export const deadLetterHoldSubscription = (t: ReviewTopology): string => `${t.deadLetterTopic}-hold`;
export const escalationOperatorsSubscription = (t: ReviewTopology): string =>
  `${t.escalationsTopic}-operators`;

/** Creates whatever of the topology is missing, and points the intake subscription at `intakeUrl`. */
export async function ensureReviewTopology(pubsub: PubSub, t: ReviewTopology): Promise<void> {
  const [requests, deadLetter, escalations] = await Promise.all(
    [t.requestsTopic, t.deadLetterTopic, t.escalationsTopic].map((name) => ensureTopic(pubsub, name)),
  );
  await ensureSubscription(deadLetter!, deadLetterHoldSubscription(t), {});
  await ensureSubscription(escalations!, escalationOperatorsSubscription(t), {});
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

async function ensureTopic(pubsub: PubSub, name: string): Promise<Topic> {
  try {
    const [topic] = await pubsub.createTopic(name);
    return topic;
  } catch (e) {
    if ((e as { code?: unknown }).code !== ALREADY_EXISTS) throw e;
    return pubsub.topic(name);
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
