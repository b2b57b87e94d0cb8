import type { PubSub, Topic } from '@google-cloud/pubsub';
import { asDependencyFailure } from '../../core/errors.js';
import { contractOf, type MessageContract } from '../../core/review/messageContracts.js';
import {
  type ReviewEventMessage,
  reviewEventAttributes,
  reviewEventOrderingKey,
} from '../../core/review/reviewEvents.js';
import type {
  EscalationMessage,
  ReviewPublisher,
  ReviewRequestMessage,
} from '../../core/review/reviewPublisher.js';
import { protoDefinition, protoJsonValidator } from './protoSchema.js';

/**
 * Review requests, escalations and review lifecycle events on Pub/Sub. The data is the ids-only JSON
 * message; attributes repeat the tenant and task so that subscriptions can filter without parsing. Topics are
 * created by Terraform (and by the local stack in the emulator), never here.
 *
 * Every message is checked before it is published against its topic's Pub/Sub schema (messageContracts.ts,
 * protoSchema.ts), as Pub/Sub checks it in production; the emulator cannot (it does not implement Protocol
 * Buffers schemas), so this check is what holds local runs to the contract. A message that fails it is a
 * bug: it is not published, and its outbox entry stays for the sweeper, with the failure logged.
 */
export class PubSubReviewPublisher implements ReviewPublisher {
  private readonly requests: Topic;
  private readonly escalations: Topic;
  private readonly events: Topic;

  constructor(
    pubsub: PubSub,
    topics: { requests: string; escalations: string; events: string },
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
    // Ordered per review item: the client sends one ordering key's messages one after another.
    this.events = pubsub.topic(topics.events, { ...topicOptions, messageOrdering: true });
  }

  async requestReview(message: ReviewRequestMessage, attributes: { task: string }): Promise<void> {
    checkContract(requestContract, message);
    await publish(this.requests, message, {
      kind: 'review_request',
      schemaVersion: String(message.schemaVersion),
      tenant: message.tenant,
      task: attributes.task,
    });
  }

  async escalate(message: EscalationMessage): Promise<void> {
    checkContract(escalationContract, message);
    await publish(this.escalations, message, {
      kind: 'review_escalation',
      schemaVersion: String(message.schemaVersion),
      tenant: message.tenant,
      task: message.task,
    });
  }

  async publishEvent(message: ReviewEventMessage): Promise<void> {
    checkContract(eventContract, message);
    await publish(this.events, message, reviewEventAttributes(message), reviewEventOrderingKey(message));
  }
}

async function publish(
  topic: Topic,
  json: object,
  attributes: Record<string, string>,
  orderingKey?: string,
): Promise<void> {
  try {
    await topic.publishMessage({ json, attributes, ...(orderingKey ? { orderingKey } : {}) });
  } catch (e) {
    // A failed publish pauses its ordering key in the client until resumed; the outbox publishes it again.
    if (orderingKey) topic.resumePublishing(orderingKey);
    throw asDependencyFailure('Pub/Sub', e);
  }
}

/** The contract's zod schema and its Pub/Sub schema, both; built once per process. */
function contractCheck(contract: MessageContract) {
  const proto = protoJsonValidator(protoDefinition(contract));
  return { contract, proto };
}
const requestContract = contractCheck(contractOf('review_requests'));
const escalationContract = contractCheck(contractOf('review_escalations'));
const eventContract = contractCheck(contractOf('review_events'));

export class MessageContractError extends Error {
  override readonly name = 'MessageContractError';
}

function checkContract(check: ReturnType<typeof contractCheck>, message: unknown): void {
  const parsed = check.contract.schema.safeParse(message);
  const problems = [
    ...(parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)),
    ...check.proto(message).map((p) => `${p.path}: ${p.message} (Pub/Sub schema)`),
  ];
  if (problems.length > 0) {
    // Field paths and rule text only: never the values.
    throw new MessageContractError(
      `${check.contract.messageName} breaks its contract: ${problems.join('; ')}`,
    );
  }
}
