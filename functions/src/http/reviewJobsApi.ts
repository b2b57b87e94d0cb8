import type { HttpFunction } from '@google-cloud/functions-framework';
import { z } from 'zod';
import type { StructuredLogger } from '../adapters/logging/structuredLog.js';
import type { AuditRepair, AuditRepairOptions } from '../core/audit/pendingAudit.js';
import type { ServiceCallerVerifier } from '../core/auth/serviceCaller.js';
import { DependencyUnavailableError, orUnavailable } from '../core/errors.js';
import type { LapsedClaimSweep, LapsedClaimSweepOptions } from '../core/idempotency/lapsedClaims.js';
import type { CallbackDelivery } from '../core/review/callbacks.js';
import type { OutboxRelay } from '../core/review/outbox.js';
import { reviewIdPattern } from '../core/review/reviewItem.js';
import type { ReconcileOptions, ReviewRequestReconciler } from '../core/review/reviewRequestReconciler.js';
import type { ReviewService } from '../core/review/reviewService.js';
import { sendJson } from './problem.js';
import { parseWith, type RequestScope, type Route, requireJson, serveRoutes } from './request.js';

/**
 * The internal review jobs, called only by Google services with an OIDC token of an allowed service account:
 *
 * - `POST /tasks/review-deadline` `{ "reviewId": "rev_..." }`: Cloud Tasks, at a review item's due time.
 *   200 with the outcome; a check that comes too early answers 409, which Cloud Tasks retries.
 * - `POST /tasks/review-callback` `{ "reviewId": "rev_..." }`: Cloud Tasks, once a review is decided. Sends
 *   the signed callback to the caller's URL (core/review/callbacks.ts): 200 with the outcome, or 503 when the
 *   receiver did not take it (answered other than 2xx, or could not be reached), which Cloud Tasks retries.
 * - `POST /jobs/sweep-review-outbox`: Cloud Scheduler, every minute. First re-emits every committed audit
 *   event whose pending copy outlived its grace (core/audit/pendingAudit.ts: the instance died before its
 *   emit, or the sink refused it). Then delivers what the outbox holds, then, once it is drained, re-sends
 *   the review request of every inference sent to review whose item has not appeared within the grace
 *   (core/review/reviewRequestReconciler.ts). Last, ends the idempotency claims that lapsed without a retry,
 *   each with its audit event (core/idempotency/lapsedClaims.ts). 200 with counts (`delivered`, `failed`,
 *   `resent`, `auditReemitted`, `claimsAbandoned`), or 503 if something could not be delivered, re-sent or
 *   re-emitted (it is retried by the next sweep), which shows up in the job's status.
 */

/** The job endpoints; Cloud Tasks and Cloud Scheduler (Terraform) call exactly these paths. */
export const reviewJobPaths = {
  deadline: '/tasks/review-deadline',
  callback: '/tasks/review-callback',
  sweep: '/jobs/sweep-review-outbox',
} as const;

const reviewTaskSchema = z.strictObject({
  reviewId: z.string().regex(reviewIdPattern, 'must be a review id'),
});

export type ReviewJobsDeps = {
  callers: ServiceCallerVerifier;
  reviews: ReviewService;
  callbacks: CallbackDelivery;
  outbox: OutboxRelay;
  sweep: { minAgeMs: number; batchSize: number; maxBatches: number };
  reconciler: ReviewRequestReconciler;
  reconcile: ReconcileOptions;
  auditRepair: AuditRepair;
  repair: AuditRepairOptions;
  lapsedClaims: LapsedClaimSweep;
  lapsed: LapsedClaimSweepOptions;
  healthy: () => Promise<boolean>;
  /** Operational log (ids and counts only); each job's lines carry the trace Cloud Tasks or Scheduler sent. */
  logger: StructuredLogger;
};

type Ctx = RequestScope;

export function createReviewJobsApi(deps: ReviewJobsDeps): HttpFunction {
  const routes: Route<Ctx>[] = [
    {
      method: 'POST',
      path: reviewJobPaths.deadline,
      handle: async ({ req, res, log }) => {
        requireJson(req);
        const { reviewId } = parseWith(reviewTaskSchema, req.body);
        const outcome = await deps.reviews.escalateIfOverdue(reviewId, { trace: log.traceId });
        if (outcome !== 'already_escalated') log.info('review deadline checked', { reviewId, outcome });
        sendJson(res, 200, { reviewId, outcome });
      },
    },
    {
      method: 'POST',
      path: reviewJobPaths.callback,
      handle: async ({ req, res, log }) => {
        requireJson(req);
        const { reviewId } = parseWith(reviewTaskSchema, req.body);
        const outcome = await deps.callbacks.deliver(reviewId);
        log.info('review callback sent', { reviewId, outcome });
        sendJson(res, 200, { reviewId, outcome });
      },
    },
    {
      method: 'POST',
      path: reviewJobPaths.sweep,
      handle: async ({ res, log }) => {
        // First, and whatever the outbox's state: a missing audit event is a compliance gap.
        const repaired = await orUnavailable('pending audit events', () =>
          deps.auditRepair.repair(deps.repair),
        );
        if (repaired.reemitted + repaired.failed > 0) log.info('pending audit events re-emitted', repaired);
        const swept = await deps.outbox.sweep(deps.sweep);
        if (swept.delivered + swept.failed > 0) log.info('review outbox swept', swept);
        if (swept.failed > 0) throw new DependencyUnavailableError('review outbox delivery', 60);
        // Only once the outbox is drained: while it is not, requests are late, not lost.
        const reconciled = await deps.reconciler.reconcile(deps.reconcile);
        if (reconciled.resent + reconciled.failed > 0) log.info('review requests re-sent', reconciled);
        if (reconciled.failed > 0) throw new DependencyUnavailableError('review request reconciliation', 60);
        if (repaired.failed > 0) throw new DependencyUnavailableError('audit event re-emission', 60);
        const lapsed = await orUnavailable('lapsed idempotency claims', () =>
          deps.lapsedClaims.sweep(deps.lapsed),
        );
        if (lapsed.abandoned > 0) log.info('lapsed idempotency claims ended', lapsed);
        sendJson(res, 200, {
          ...swept,
          resent: reconciled.resent,
          auditReemitted: repaired.reemitted,
          claimsAbandoned: lapsed.abandoned,
        });
      },
    },
  ];

  return serveRoutes({
    routes,
    authenticate: async (req) => {
      await deps.callers.verify(req.headers.authorization);
      return {};
    },
    healthy: deps.healthy,
    logger: deps.logger,
  });
}
