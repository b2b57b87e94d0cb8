import type { PubSub, Topic } from '@google-cloud/pubsub';
import { DependencyUnavailableError } from '../../core/errors.js';
import type {
  EscalationMessage,
  ReviewPublisher,
  ReviewRequestMessage,
} from '../../core/review/reviewPublisher.js';

/**
 * Review requests and escalations on Pub/Sub. The data is the ids-only JSON message; attributes repeat the
 * tenant and task so that subscriptions can filter without parsing. Topics are created by Terraform (and by
 * the local stack in the emulator), never here.
 */
export class PubSubReviewPublisher implements ReviewPublisher {
  private readonly requests: Topic;
  private readonly escalations: Topic;

  constructor(
    pubsub: PubSub,
    topics: { requests: string; escalations: string },
    options: { timeoutMs: number },
  ) {
    const topicOptions = {
      // One message is one request's answer waiting: send it at once rather than wait to fill a batch.
      batching: { maxMessages: 1, maxMilliseconds: 1 },
      // Bounds the client's own retries; the caller bounds the wait (see OutboxRelay), the outbox the rest.
      gaxOpts: { timeout: options.timeoutMs },
    };
    this.requests = pubsub.topic(topics.requests, topicOptions);
    this.escalations = pubsub.topic(topics.escalations, topicOptions);
  }

  async requestReview(message: ReviewRequestMessage, attributes: { task: string }): Promise<void> {
    await publish(this.requests, message, {
      kind: 'review_request',
      schemaVersion: String(message.schemaVersion),
      tenant: message.tenant,
      task: attributes.task,
    });
  }

  async escalate(message: EscalationMessage): Promise<void> {
    await publish(this.escalations, message, {
      kind: 'review_escalation',
      schemaVersion: String(message.schemaVersion),
      tenant: message.tenant,
      task: message.task,
    });
  }
}

async function publish(topic: Topic, json: object, attributes: Record<string, string>): Promise<void> {
  try {
    await topic.publishMessage({ json, attributes });
  } catch (e) {
    throw new DependencyUnavailableError('Pub/Sub', 2, { cause: e });
  }
}
