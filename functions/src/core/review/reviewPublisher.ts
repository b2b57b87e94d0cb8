import { z } from 'zod';
import type { ReviewEventMessage } from './reviewEvents.js';
import { inferenceIdPattern, reviewIdPattern } from './reviewItem.js';

/**
 * Messages of the review pipeline. They carry ids only, never clinical text: whoever handles one reads the
 * rest from Firestore, with its own access checks. `schemaVersion` lets a consumer refuse what it cannot
 * read instead of misreading it.
 */

export const reviewRequestMessageSchema = z.strictObject({
  schemaVersion: z.literal(1),
  inferenceId: z.string().regex(inferenceIdPattern),
  tenant: z.string().min(1).max(128),
});
export type ReviewRequestMessage = z.infer<typeof reviewRequestMessageSchema>;

export const escalationMessageSchema = z.strictObject({
  schemaVersion: z.literal(1),
  reviewId: z.string().regex(reviewIdPattern),
  inferenceId: z.string().regex(inferenceIdPattern),
  tenant: z.string().min(1),
  task: z.string(),
  dueAt: z.iso.datetime(),
  escalatedAt: z.iso.datetime(),
});
export type EscalationMessage = z.infer<typeof escalationMessageSchema>;

/** Where review requests and escalations are published (production: Pub/Sub topics). */
export interface ReviewPublisher {
  /** Resolves once the topic has the message. Publishing the same request twice is harmless. */
  requestReview(message: ReviewRequestMessage, attributes: { task: string }): Promise<void>;
  /** Tells operators that a review item passed its due time undecided. */
  escalate(message: EscalationMessage): Promise<void>;
  /**
   * Announces a review lifecycle step to outside subscribers (reviewEvents.ts), ordered per review item.
   * Publishing the same step twice is harmless: subscribers deduplicate by `eventId`.
   */
  publishEvent(message: ReviewEventMessage): Promise<void>;
}
