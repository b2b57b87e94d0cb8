import type { z } from 'zod';
import { reviewEventMessageSchema, reviewEventTypes } from './reviewEvents.js';
import { escalationMessageSchema, reviewRequestMessageSchema } from './reviewPublisher.js';

/**
 * The message contract of every topic the gateway publishes to: the zod schema the code publishes with, and
 * what is derived from it — the Pub/Sub schema (Protocol Buffers, JSON encoding) that Terraform attaches to
 * the topic and the publisher checks locally, and the AsyncAPI document (`npm run asyncapi`).
 *
 * Evolving a message (the revision policy, docs/events.md): add fields only, each under a new field number
 * appended to `fieldNumbers`; never renumber, retype or remove a field (list a removed name in `retired`, so
 * its number is never reused). Such a change is a new revision of the same Pub/Sub schema, which the topic
 * accepts alongside the older ones, so publishers and subscribers can be deployed in any order. Anything else
 * is a new `schemaVersion` on a new topic.
 */

export type MessageContract = {
  /** Key of the topic in Terraform's `local.topics`. */
  topicKey: 'review_requests' | 'review_escalations' | 'review_events';
  /** The default topic id (config.ts). */
  defaultTopic: string;
  /** Protocol Buffers message name, also the AsyncAPI message name. */
  messageName: string;
  title: string;
  description: string;
  schema: z.ZodType;
  /** Field number of every property, stable forever. */
  fieldNumbers: Readonly<Record<string, number>>;
  /** Field numbers of removed properties, never to be reused. */
  retired: readonly number[];
  /** Message attributes (all strings), for subscription filters. */
  attributes: Readonly<Record<string, { description: string; enum?: readonly string[] }>>;
  /** What the ordering key is, if messages carry one. */
  orderingKey: string | null;
  /** Who publishes. */
  publishedBy: string;
};

const tenantAttribute = { description: 'The tenant the message is about (the payload’s `tenant`).' };
const taskAttribute = { description: 'The clinical task (the payload’s `task`).' };
const schemaVersionAttribute = { description: 'The payload’s `schemaVersion`.', enum: ['1'] };

export const messageContracts: readonly MessageContract[] = [
  {
    topicKey: 'review_requests',
    defaultTopic: 'review-requests',
    messageName: 'ReviewRequest',
    title: 'Review request',
    description:
      'An inference needs a clinical reviewer. Internal: consumed by the review intake, which creates the review item.',
    schema: reviewRequestMessageSchema,
    fieldNumbers: { schemaVersion: 1, inferenceId: 2, tenant: 3 },
    retired: [],
    attributes: {
      kind: { description: 'Always `review_request`.', enum: ['review_request'] },
      schemaVersion: schemaVersionAttribute,
      tenant: tenantAttribute,
      task: taskAttribute,
    },
    orderingKey: null,
    publishedBy: 'inference-api (and the review outbox sweep in review-jobs)',
  },
  {
    topicKey: 'review_escalations',
    defaultTopic: 'review-escalations',
    messageName: 'ReviewEscalation',
    title: 'Review escalation',
    description: 'A review item passed its due time undecided. For operators and on-call.',
    schema: escalationMessageSchema,
    fieldNumbers: {
      schemaVersion: 1,
      reviewId: 2,
      inferenceId: 3,
      tenant: 4,
      task: 5,
      dueAt: 6,
      escalatedAt: 7,
    },
    retired: [],
    attributes: {
      kind: { description: 'Always `review_escalation`.', enum: ['review_escalation'] },
      schemaVersion: schemaVersionAttribute,
      tenant: tenantAttribute,
      task: taskAttribute,
    },
    orderingKey: null,
    publishedBy: 'review-jobs (deadline check and outbox sweep)',
  },
  {
    topicKey: 'review_events',
    defaultTopic: 'review-events',
    messageName: 'ReviewEvent',
    title: 'Review lifecycle event',
    description:
      'One step of a review item: enqueued, claimed, decided (with action and reason code) or escalated. Ids, ' +
      'tenant, task, states and times only, never clinical text: read the inference through the API. ' +
      'Deduplicate by `eventId` (a step may be delivered more than once); steps of one item share the ordering ' +
      'key `reviewId` and have increasing `sequence`.',
    schema: reviewEventMessageSchema,
    fieldNumbers: {
      schemaVersion: 1,
      eventId: 2,
      eventType: 3,
      occurredAt: 4,
      reviewId: 5,
      inferenceId: 6,
      tenant: 7,
      task: 8,
      state: 9,
      sequence: 10,
      dueAt: 11,
      escalated: 12,
      sampled: 13,
      reviewer: 14,
      action: 15,
      reasonCode: 16,
    },
    retired: [],
    attributes: {
      tenant: tenantAttribute,
      task: taskAttribute,
      eventType: { description: 'The step (the payload’s `eventType`).', enum: reviewEventTypes },
      schemaVersion: schemaVersionAttribute,
    },
    orderingKey:
      'The review item id (`reviewId`): one item’s steps arrive in order on an ordered subscription.',
    publishedBy:
      'review-intake (enqueued), reviewer-api (claimed, decided), review-jobs (escalated; outbox sweep)',
  },
];

export const contractOf = (topicKey: MessageContract['topicKey']): MessageContract => {
  const found = messageContracts.find((c) => c.topicKey === topicKey);
  if (!found) throw new Error(`no message contract for ${topicKey}`);
  return found;
};
