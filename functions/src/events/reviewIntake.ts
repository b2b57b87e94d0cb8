import type { CloudEvent, CloudEventFunction } from '@google-cloud/functions-framework';
import { z } from 'zod';
import type { StructuredLogger } from '../adapters/logging/structuredLog.js';
import { isGatewayError, ValidationError } from '../core/errors.js';
import type { ReviewIntake } from '../core/review/reviewIntake.js';
import { type ReviewRequestMessage, reviewRequestMessageSchema } from '../core/review/reviewPublisher.js';

/**
 * The Pub/Sub-triggered review intake: a CloudEvent function. It receives the same event whether Pub/Sub
 * delivers through Eventarc (a binary-mode CloudEvent) or through a push subscription straight to the
 * function (the Functions Framework turns the push body into the same CloudEvent), which is how the local
 * stack wires the emulator.
 *
 * Returning acknowledges the message; throwing makes Pub/Sub deliver it again, with backoff. A message that
 * can never be processed (not our JSON, an unknown inference) throws too, and after the subscription's
 * maximum delivery attempts its dead-letter policy moves it to the dead-letter topic, where it is kept for
 * an operator. Retrying such a message is pointless but harmless; acknowledging it here would lose it.
 */

export const PUBSUB_MESSAGE_PUBLISHED = 'google.cloud.pubsub.topic.v1.messagePublished';

const pubsubEventData = z.object({
  message: z.object({
    data: z.string().min(1),
    messageId: z.string().optional(),
    attributes: z.record(z.string(), z.string()).nullable().optional(),
  }),
});

/** The review request inside a Pub/Sub CloudEvent, or `ValidationError` (never retried into success). */
export function parseReviewRequestEvent(event: CloudEvent<unknown>): ReviewRequestMessage {
  if (event.type !== PUBSUB_MESSAGE_PUBLISHED) {
    throw new ValidationError('the event is not a Pub/Sub message');
  }
  const data = pubsubEventData.safeParse(event.data);
  if (!data.success) throw new ValidationError('the event carries no Pub/Sub message data');
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(data.data.message.data, 'base64').toString('utf8'));
  } catch {
    throw new ValidationError('the review request is not JSON');
  }
  const message = reviewRequestMessageSchema.safeParse(json);
  if (!message.success) throw new ValidationError('the review request does not have the expected fields');
  return message.data;
}

/**
 * The trace a delivery carries: the Functions Framework puts the push request's `traceparent` on the event
 * (the CloudEvents distributed-tracing extension), as Eventarc does.
 */
const traceHeadersOf = (event: CloudEvent<unknown>) => ({
  traceparent: typeof event.traceparent === 'string' ? event.traceparent : undefined,
});

export function createReviewIntakeHandler(deps: {
  intake: ReviewIntake;
  /** Each delivery's lines carry its trace, the one the review.enqueued audit event records. */
  logger: StructuredLogger;
}): CloudEventFunction {
  return async (event) => {
    const log = deps.logger.forRequest(traceHeadersOf(event));
    let message: ReviewRequestMessage | null = null;
    try {
      message = parseReviewRequestEvent(event);
      log.tenant = message.tenant;
      const outcome = await deps.intake.accept(message, { trace: log.traceId });
      log.info('review request taken in', {
        inferenceId: message.inferenceId,
        outcome,
        eventId: event.id,
      });
    } catch (error) {
      // Retryable failures are expected now and then; the others will end in the dead-letter topic.
      const permanent = isGatewayError(error) && !isGatewayError(error, 'dependency_unavailable');
      log.log(
        permanent ? 'ERROR' : 'WARNING',
        'review request not taken in; Pub/Sub redelivers it until its dead-letter policy sets it aside',
        {
          eventId: event.id,
          inferenceId: message?.inferenceId ?? null,
          reason: isGatewayError(error) ? error.kind : 'internal',
          permanent,
        },
      );
      throw error;
    }
  };
}
