import { z } from 'zod';
import type { AuditEvent } from '../audit/events.js';
import {
  effectiveState,
  inferenceIdPattern,
  type ReviewItem,
  reasonCodes,
  reviewActions,
  reviewIdPattern,
  reviewItemStates,
} from './reviewItem.js';

/**
 * The review lifecycle as outside subscribers see it (topic `review-events`): one message per step that
 * matters outside the gateway. Ids, tenant, task, states and times only, never clinical text (no input, no
 * output, no note): a subscriber that needs the inference reads it through the API with its own identity.
 *
 * Each message is recorded in the outbox in the same transaction as the step it announces, so a committed
 * step is never missing its message; `eventId` is the id of the step's audit event, so a redelivered or
 * republished message carries the same id and a subscriber deduplicates on it. `sequence` is the step's
 * position on the inference's audit chain: it grows with every step of one item.
 */

export const reviewEventTypes = [
  'review.enqueued',
  'review.claimed',
  'review.decided',
  'review.escalated',
] as const;
export type ReviewEventType = (typeof reviewEventTypes)[number];

const isoTime = z.iso.datetime();

export const reviewEventMessageSchema = z
  .strictObject({
    schemaVersion: z.literal(1),
    eventId: z.uuid(),
    eventType: z.enum(reviewEventTypes),
    /** When the step happened (the time of its audit event). */
    occurredAt: isoTime,
    reviewId: z.string().regex(reviewIdPattern),
    inferenceId: z.string().regex(inferenceIdPattern),
    tenant: z.string().min(1).max(128),
    task: z.string().min(1).max(128),
    /** The item's state after the step (an escalated item stays pending or claimed). */
    state: z.enum(reviewItemStates),
    /** The step's position on the inference's audit chain; later steps of an item have larger numbers. */
    sequence: z.int().min(1).max(2_147_483_647),
    /** When the review is due (the task's review SLA after the inference was created). */
    dueAt: isoTime,
    escalated: z.boolean(),
    /** Sent to review by quality sampling although confident (the caller already had the output). */
    sampled: z.boolean(),
    /** The reviewer's subject: who claimed or decided (null when nobody holds the item). */
    reviewer: z.string().min(1).max(256).nullable(),
    /** review.decided only. */
    action: z.enum(reviewActions).nullable(),
    /** review.decided only; required for edit and reject, optional for approve. */
    reasonCode: z.enum(reasonCodes).nullable(),
  })
  .refine((m) => (m.eventType === 'review.decided') === (m.action !== null), {
    message: 'action is set exactly on review.decided',
    path: ['action'],
  })
  .refine((m) => m.eventType === 'review.decided' || m.reasonCode === null, {
    message: 'reasonCode is set on review.decided only',
    path: ['reasonCode'],
  });
export type ReviewEventMessage = z.infer<typeof reviewEventMessageSchema>;

/** The attributes every review event carries, for subscription filters (`attributes.tenant = "acme"`). */
export type ReviewEventAttributes = {
  tenant: string;
  task: string;
  eventType: ReviewEventType;
  schemaVersion: '1';
};

export const reviewEventAttributes = (m: ReviewEventMessage): ReviewEventAttributes => ({
  tenant: m.tenant,
  task: m.task,
  eventType: m.eventType,
  schemaVersion: '1',
});

/** One item's steps share an ordering key, so a subscriber with message ordering sees them in order. */
export const reviewEventOrderingKey = (m: Pick<ReviewEventMessage, 'reviewId'>): string => m.reviewId;

/**
 * The message announcing the step that `event` (its sealed audit event) records, for `item` as it is after
 * the step. Id, time, sequence and reviewer are the audit event's, so the message and the audit trail name
 * the same step with the same values.
 */
export function reviewEventMessage(item: ReviewItem, event: AuditEvent): ReviewEventMessage {
  const eventType = reviewEventTypes.find((t) => t === event.eventType);
  if (!eventType || !event.review || event.sequence === null) {
    throw new Error(`not a sealed review audit event: ${event.eventType}`);
  }
  const decided = eventType === 'review.decided' ? item.decision : null;
  return {
    schemaVersion: 1,
    eventId: event.eventId,
    eventType,
    occurredAt: event.timestamp,
    reviewId: item.id,
    inferenceId: item.inferenceId,
    tenant: item.tenant,
    task: item.task,
    // As a reviewer would see it at that moment: a lapsed claim is pending again.
    state: effectiveState(item, new Date(event.timestamp)),
    sequence: event.sequence,
    dueAt: item.dueAt.toISOString(),
    escalated: item.escalatedAt !== null,
    sampled: item.sampled,
    reviewer: event.review.reviewer,
    action: decided ? decided.action : null,
    reasonCode: decided ? decided.reasonCode : null,
  };
}
