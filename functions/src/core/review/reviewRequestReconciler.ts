import type { AuditTrail } from '../audit/auditTrail.js';
import { headOf } from '../audit/chain.js';
import { type Clock, dateClock } from '../clock.js';
import { type OutboxEntry, type OutboxRelay, outboxEntry } from './outbox.js';
import { chainHeadOf, eventFrame, reviewEventDraft } from './reviewAudit.js';
import { reviewIdFor } from './reviewItem.js';
import { type AuditedReviewChange, commitReviewChange, type ReviewStore } from './reviewStore.js';

/**
 * The last line of defence of the review path. The outbox guarantees that Pub/Sub *accepted* an inference's
 * review request; it cannot see whether the intake ever took it in. A message can still be lost after that:
 * dead-lettered after its delivery attempts while the intake was down or failing, expired unacknowledged
 * (7 days), a subscription deleted or recreated, an emulator that gives up pushing. Then the caller holds a
 * `202 pending_review` that no reviewer will ever see.
 *
 * So every inference sent to review carries `reviewRequestedAt` until the intake creates its item (which
 * clears it in the same transaction). Whatever still carries one after a grace period gets its review
 * request sent again: re-recorded in the outbox and delivered, with a `review.request_resent` audit event on
 * the inference's chain, and `reviewRequestedAt` moved to now, so the next re-send waits another grace. The
 * intake is idempotent on the inference id (the item id is derived from it), so a request that was merely
 * slow costs one duplicate message, never a second item.
 *
 * Runs in the scheduled outbox sweep (`POST /jobs/sweep-review-outbox`), after the outbox itself drained.
 */

export type ReconcileOptions = {
  /** How long the intake may take before a request counts as lost (a slow push is not a lost one). */
  graceMs: number;
  /** Inferences looked at per run; the oldest first, the rest at the next run. */
  limit: number;
};
export type ReconcileResult = { resent: number; failed: number };

export type ReviewRequestReconcilerDeps = {
  store: ReviewStore;
  trail: AuditTrail;
  /** Delivers the re-recorded request at once; what it cannot deliver stays for the sweeper. */
  outbox: Pick<OutboxRelay, 'deliver'>;
  gatewayVersion: string;
  clock?: Clock;
  warn?: (message: string, fields?: Record<string, unknown>) => void;
};

export class ReviewRequestReconciler {
  private readonly now: () => Date;

  constructor(private readonly deps: ReviewRequestReconcilerDeps) {
    this.now = dateClock(deps.clock);
  }

  async reconcile(options: ReconcileOptions): Promise<ReconcileResult> {
    const now = this.now();
    const cutoff = new Date(now.getTime() - options.graceMs);
    const ids = await this.deps.store.listAwaitingIntake(cutoff, options.limit);
    const result: ReconcileResult = { resent: 0, failed: 0 };
    await Promise.all(
      ids.map(async (inferenceId) => {
        try {
          if (await this.resend(inferenceId, cutoff, now)) result.resent++;
        } catch (error) {
          result.failed++;
          this.deps.warn?.('review request not re-sent; the next sweep retries', {
            inferenceId,
            reason: error instanceof Error ? error.name : 'unknown',
          });
        }
      }),
    );
    return result;
  }

  /** Re-sends one inference's review request if it still has no item; false if nothing was due. */
  private async resend(inferenceId: string, cutoff: Date, now: Date): Promise<boolean> {
    const reviewId = reviewIdFor(inferenceId);
    const frame = eventFrame({ subject: 'review-reconciler', role: 'system' }, now);
    const request = await commitReviewChange(
      this.deps.store,
      this.deps.trail,
      { inferenceId, reviewId },
      ({ inference, item }): AuditedReviewChange<OutboxEntry | null> => {
        const requestedAt = inference?.reviewRequestedAt;
        // Taken in, or re-sent by another run, since the query: nothing is due.
        if (!inference || !requestedAt || requestedAt > cutoff)
          return { writes: null, event: null, result: null };
        if (item) {
          // The item exists but the mark stayed (an item written by other means): clear it, nothing to send.
          return {
            writes: { inference: { ...inference, reviewRequestedAt: null } },
            event: null,
            result: null,
          };
        }
        const event = this.deps.trail.seal(
          reviewEventDraft(
            frame,
            'review.request_resent',
            inference,
            {
              reviewId,
              reviewer: null,
              action: 'request_resent',
              reasonCode: null,
              editHash: null,
              dueAt: null,
            },
            this.deps.gatewayVersion,
          ),
          chainHeadOf(inference),
        );
        const entry = outboxEntry.reviewRequest(inference, now);
        return {
          writes: {
            inference: { ...inference, auditHead: headOf(event), reviewRequestedAt: now },
            // Same id as the first request's entry: re-armed, undelivered again until Pub/Sub has it.
            outbox: [entry],
          },
          event,
          result: entry,
        };
      },
    );
    if (!request) return false;
    await this.deps.outbox.deliver(request);
    return true;
  }
}
