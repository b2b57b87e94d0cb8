import type { AuditTrail } from '../audit/auditTrail.js';
import { headOf } from '../audit/chain.js';
import { type Clock, dateClock } from '../clock.js';
import { NotFoundError, ValidationError } from '../errors.js';
import type { RoutingConfig } from '../routing/routes.js';
import type { TaskScheduler } from '../scheduling/taskScheduler.js';
import { type OutboxEntry, type OutboxRelay, outboxEntry } from './outbox.js';
import { chainHeadOf, eventFrame, reviewEventDraft } from './reviewAudit.js';
import { reviewEventMessage } from './reviewEvents.js';
import { isDecided, type ReviewItem, reviewIdFor } from './reviewItem.js';
import type { ReviewRequestMessage } from './reviewPublisher.js';
import { type AuditedReviewChange, commitReviewChange, type ReviewStore } from './reviewStore.js';

/**
 * Turns a review request into the inference's review item, idempotently: the item's id is derived from the
 * inference id and it is created inside a transaction that first looks for it, so a redelivered message
 * finds the item and changes nothing. Then it makes sure the deadline check is scheduled (the task name is
 * derived from the item id, so this too happens once however often the message comes).
 *
 * Errors: `NotFoundError` / `ValidationError` for a message that can never be processed (the subscription's
 * dead-letter policy moves it aside after its delivery attempts); `DependencyUnavailableError` for a failure
 * worth retrying. Either way the message is not acknowledged.
 */

export type IntakeOutcome = 'created' | 'existed' | 'decided';

export type ReviewIntakeDeps = {
  store: ReviewStore;
  /** Delivers the review.enqueued message recorded with the new item. */
  outbox: OutboxRelay;
  scheduler: TaskScheduler;
  routing: RoutingConfig;
  trail: AuditTrail;
  gatewayVersion: string;
  /** Where the deadline check is sent (the reviewJobs function) and the identity it carries. */
  deadlineCheck: { url: string; oidc: { serviceAccountEmail: string; audience: string } | null };
  clock?: Clock;
  warn?: (message: string, fields?: Record<string, unknown>) => void;
};

/** The review SLA when a task's route does not set one (same as the config default). */
const DEFAULT_SLA_MINUTES = 240;

export class ReviewIntake {
  private readonly now: () => Date;

  constructor(private readonly deps: ReviewIntakeDeps) {
    this.now = dateClock(deps.clock);
  }

  /** `ctx.trace`: the delivery's trace, recorded on the review.enqueued event so its log lines join it. */
  async accept(
    message: ReviewRequestMessage,
    ctx: { trace: string | null } = { trace: null },
  ): Promise<IntakeOutcome> {
    const reviewId = reviewIdFor(message.inferenceId);
    const now = this.now();
    const frame = eventFrame({ subject: 'review-intake', role: 'system' }, now, ctx.trace);
    const { outcome, item, announced } = await commitReviewChange(
      this.deps.store,
      this.deps.trail,
      { inferenceId: message.inferenceId, reviewId },
      ({
        inference,
        item,
      }): AuditedReviewChange<{
        outcome: IntakeOutcome;
        item: ReviewItem;
        announced: OutboxEntry | null;
      }> => {
        // A tenant mismatch is a forged or corrupted message: treated exactly like an unknown inference.
        if (!inference || inference.tenant !== message.tenant) {
          throw new NotFoundError('the review request names no known inference');
        }
        if (item) {
          return {
            writes: null,
            event: null,
            result: { outcome: isDecided(item) ? 'decided' : 'existed', item, announced: null },
          };
        }
        if (!inference.review) {
          throw new ValidationError('the inference named by the review request was not sent to review');
        }
        const slaMinutes = this.deps.routing.tasks[inference.task]?.reviewSlaMinutes ?? DEFAULT_SLA_MINUTES;
        const created: ReviewItem = {
          id: reviewId,
          inferenceId: inference.id,
          tenant: inference.tenant,
          task: inference.task,
          input: { text: inference.input.text },
          proposal: inference.proposal,
          confidence: inference.confidence,
          threshold: inference.threshold,
          scoreBasis: inference.scoreBasis,
          sampled: inference.sampledForReview,
          provider: inference.provider,
          model: inference.model,
          state: 'pending',
          claimedBy: null,
          leaseExpiresAt: null,
          createdAt: inference.createdAt,
          enqueuedAt: now,
          dueAt: new Date(inference.createdAt.getTime() + slaMinutes * 60_000),
          escalatedAt: null,
          decision: null,
        };
        const event = this.deps.trail.seal(
          reviewEventDraft(
            frame,
            'review.enqueued',
            inference,
            {
              reviewId,
              reviewer: null,
              action: 'enqueued',
              reasonCode: null,
              editHash: null,
              dueAt: created.dueAt.toISOString(),
            },
            this.deps.gatewayVersion,
          ),
          chainHeadOf(inference),
        );
        const announced = outboxEntry.reviewEvent(reviewEventMessage(created, event), now);
        return {
          writes: {
            item: created,
            // The item exists: the reconciler has nothing more to re-send.
            inference: { ...inference, auditHead: headOf(event), reviewRequestedAt: null },
            outbox: [announced],
          },
          event,
          result: { outcome: 'created', item: created, announced },
        };
      },
    );
    // Never throws: an undelivered message stays in the outbox for the sweeper.
    if (announced) await this.deps.outbox.deliver(announced);
    // Also on redelivery: the delivery that created the item may have died before scheduling.
    if (outcome !== 'decided' && !item.escalatedAt) {
      await this.deps.scheduler.schedule({
        queue: 'deadlines',
        name: `deadline-${item.id}`,
        url: this.deps.deadlineCheck.url,
        body: { reviewId: item.id },
        scheduleAt: item.dueAt,
        oidc: this.deps.deadlineCheck.oidc,
      });
    }
    return outcome;
  }
}
