import canonicalize from 'canonicalize';
import type { AuditTrail } from '../audit/auditTrail.js';
import { headOf, hmacHex } from '../audit/chain.js';
import type { Principal } from '../auth/principal.js';
import { requireRole } from '../auth/principal.js';
import { type Clock, dateClock } from '../clock.js';
import {
  type FieldProblem,
  NotFoundError,
  orUnavailable,
  StateConflictError,
  UnprocessableError,
} from '../errors.js';
import { type InferenceRecord, toResource } from '../inference/inference.js';
import type { RequestContext } from '../requestContext.js';
import { type TaskName, taskOutputSchemas } from '../tasks.js';
import { type OutboxEntry, type OutboxRelay, outboxEntry } from './outbox.js';
import { chainHeadOf, eventFrame, type ReviewActor, reviewEventDraft } from './reviewAudit.js';
import { reviewEventMessage } from './reviewEvents.js';
import {
  effectiveState,
  hasLiveClaim,
  inferenceIdFor,
  isDecided,
  type ReasonCode,
  type ReviewAction,
  type ReviewItem,
  type ReviewItemState,
  type ReviewItemView,
  reviewIdPattern,
  toView,
} from './reviewItem.js';
import {
  type AuditedReviewChange,
  commitReviewChange,
  type ReviewSnapshot,
  type ReviewStore,
} from './reviewStore.js';

/**
 * What reviewers do (list, claim, decide) and what the deadline check does (escalate). Every state change
 * is one transaction over the review item and its inference, and appends one audit event to the inference's
 * hash chain; effects that follow (callback, escalation message) go through the outbox.
 */

export type DecisionRequest = {
  action: ReviewAction;
  output?: unknown;
  reasonCode?: ReasonCode | null | undefined;
  note?: string | null | undefined;
};

export type DeadlineOutcome = 'escalated' | 'already_escalated' | 'decided' | 'unknown';

export type ReviewServiceDeps = {
  store: ReviewStore;
  outbox: OutboxRelay;
  trail: AuditTrail;
  /** Keys the hash of an edited output in its audit event. */
  auditHmacKey: string;
  gatewayVersion: string;
  /** How long a claim lasts. */
  leaseMs: number;
  clock?: Clock;
  warn?: (message: string, fields?: Record<string, unknown>) => void;
};

/** The deadline check acts as the gateway itself. */
const DEADLINE_ACTOR: ReviewActor = { subject: 'review-deadline-check', role: 'system' };
const MAX_LIST_PAGES = 10;

export class ReviewService {
  private readonly now: () => Date;

  constructor(private readonly deps: ReviewServiceDeps) {
    this.now = dateClock(deps.clock);
  }

  /** The caller's tenant's items in `state`, oldest first. A lapsed claim counts as pending. */
  async list(
    principal: Principal,
    query: { state: ReviewItemState; limit: number },
  ): Promise<ReviewItemView[]> {
    requireRole(principal, 'reviewer');
    const now = this.now();
    // Pending and claimed depend on the lease, so both read the two stored states and filter; decided
    // states are stored as they are shown.
    const leased = query.state === 'pending' || query.state === 'claimed';
    const stored: ReviewItemState[] = query.state === 'pending' ? ['pending', 'claimed'] : [query.state];
    const pageSize = leased ? Math.min(query.limit + 50, 400) : query.limit;
    const found: ReviewItem[] = [];
    let after: { createdAt: Date; id: string } | null = null;
    for (let page = 0; page < MAX_LIST_PAGES && found.length < query.limit; page++) {
      const cursor: { createdAt: Date; id: string } | null = after;
      const batch: ReviewItem[] = await this.guard(() =>
        this.deps.store.listItems({
          tenant: principal.tenant,
          states: stored,
          limit: pageSize,
          after: cursor,
        }),
      );
      for (const item of batch) {
        if (found.length < query.limit && effectiveState(item, now) === query.state) found.push(item);
      }
      const last = batch.at(-1);
      if (batch.length < pageSize || !last) break;
      after = { createdAt: last.createdAt, id: last.id };
    }
    return found.map((item) => toView(item, now));
  }

  /** Claims the item for the caller until the lease expires. The holder may renew its own live claim. */
  async claim(principal: Principal, reviewId: string, ctx: RequestContext): Promise<ReviewItemView> {
    requireRole(principal, 'reviewer');
    const now = this.now();
    const frame = eventFrame({ subject: principal.subject, role: 'reviewer' }, now, ctx.trace);
    const leaseExpiresAt = new Date(now.getTime() + this.deps.leaseMs);
    const { item, announced } = await this.transact(reviewId, ({ inference, item }) => {
      const found = ownItem(principal, inference, item);
      if (isDecided(found.item)) throw new StateConflictError('this review item is already decided');
      if (hasLiveClaim(found.item, now) && found.item.claimedBy !== principal.subject) {
        throw new StateConflictError('another reviewer holds a live claim on this item');
      }
      const claimed: ReviewItem = {
        ...found.item,
        state: 'claimed',
        claimedBy: principal.subject,
        leaseExpiresAt,
      };
      const event = this.deps.trail.seal(
        reviewEventDraft(
          frame,
          'review.claimed',
          found.inference,
          {
            reviewId: claimed.id,
            reviewer: principal.subject,
            action: 'claimed',
            reasonCode: null,
            editHash: null,
            dueAt: claimed.dueAt.toISOString(),
          },
          this.deps.gatewayVersion,
        ),
        chainHeadOf(found.inference),
      );
      const announced = outboxEntry.reviewEvent(reviewEventMessage(claimed, event), now);
      return {
        writes: {
          item: claimed,
          inference: { ...found.inference, auditHead: headOf(event) },
          outbox: [announced],
        },
        event,
        result: { item: claimed, announced },
      };
    });
    await this.deps.outbox.deliver(announced);
    return toView(item, now);
  }

  /**
   * Decides the item the caller holds a live claim on, and with it the inference: approve (the proposal
   * becomes the output), edit (the edited output, which must fit the task's schema) or reject (no output).
   */
  async decide(
    principal: Principal,
    reviewId: string,
    request: DecisionRequest,
    ctx: RequestContext,
  ): Promise<ReviewItemView> {
    requireRole(principal, 'reviewer');
    if (!reviewIdPattern.test(reviewId)) throw new NotFoundError('no such review item');
    const current = await this.guard(() => this.deps.store.getItem(reviewId));
    if (!current || current.tenant !== principal.tenant) throw new NotFoundError('no such review item');
    // The task of an item never changes, so its output can be checked before the transaction.
    const checked = checkDecision(current, request);

    const now = this.now();
    const frame = eventFrame({ subject: principal.subject, role: 'reviewer' }, now, ctx.trace);
    const state = decidedState[request.action];
    const editHash =
      request.action === 'edit' ? hmacHex(this.deps.auditHmacKey, canonicalize(checked.output) ?? '') : null;
    const { item, callback, announced } = await this.transact(reviewId, ({ inference, item }) => {
      const found = ownItem(principal, inference, item);
      if (isDecided(found.item)) throw new StateConflictError('this review item is already decided');
      if (!hasLiveClaim(found.item, now) || found.item.claimedBy !== principal.subject) {
        throw new StateConflictError('a decision needs your live claim on this item: claim it first');
      }
      const decided: ReviewItem = {
        ...found.item,
        state,
        leaseExpiresAt: null,
        decision: {
          action: request.action,
          reviewer: principal.subject,
          reasonCode: checked.reasonCode,
          note: checked.note,
          output: request.action === 'edit' ? checked.output : null,
          decidedAt: now,
        },
      };
      const event = this.deps.trail.seal(
        reviewEventDraft(
          frame,
          'review.decided',
          found.inference,
          {
            reviewId: decided.id,
            reviewer: principal.subject,
            action: request.action,
            reasonCode: checked.reasonCode,
            editHash,
            dueAt: decided.dueAt.toISOString(),
          },
          this.deps.gatewayVersion,
        ),
        chainHeadOf(found.inference),
      );
      const rejected = request.action === 'reject';
      const inferenceAfter: InferenceRecord = {
        ...found.inference,
        status: rejected ? 'rejected' : 'completed',
        output: rejected ? null : checked.output,
        review: { state, reviewer: principal.subject, reasonCode: checked.reasonCode, decidedAt: now },
        // A sampled inference was completed before its review; it keeps that time.
        completedAt: found.inference.completedAt ?? now,
        auditHead: headOf(event),
      };
      const callback = found.inference.callbackUrl
        ? outboxEntry.callback(decided, found.inference.callbackUrl, now)
        : null;
      // A replay of the original request must not show what the reviewer has just edited or withdrawn.
      const ledgerRecordId = found.inference.ledgerRecordId;
      const replay = ledgerRecordId
        ? { ledgerRecordId, inferenceId: inferenceAfter.id, body: JSON.stringify(toResource(inferenceAfter)) }
        : undefined;
      const announced = outboxEntry.reviewEvent(reviewEventMessage(decided, event), now);
      return {
        writes: {
          item: decided,
          inference: inferenceAfter,
          outbox: callback ? [callback, announced] : [announced],
          ...(replay ? { replay } : {}),
        },
        event,
        result: { item: decided, callback, announced },
      };
    });
    await Promise.all([
      callback ? this.deps.outbox.deliver(callback) : undefined,
      this.deps.outbox.deliver(announced),
    ]);
    return toView(item, now);
  }

  /**
   * The deadline check: an item still undecided at its due time is escalated (flagged, audited, announced on
   * the escalation topic). It is never decided here: an overdue item still waits for a reviewer. `ctx.trace`
   * is the deadline task's trace, recorded on the review.escalated event so the job's log lines join it.
   */
  async escalateIfOverdue(
    reviewId: string,
    ctx: { trace: string | null } = { trace: null },
  ): Promise<DeadlineOutcome> {
    if (!reviewIdPattern.test(reviewId)) return 'unknown';
    const now = this.now();
    const frame = eventFrame(DEADLINE_ACTOR, now, ctx.trace);
    const { outcome, effects } = await this.transact(
      reviewId,
      ({ inference, item }): AuditedReviewChange<{ outcome: DeadlineOutcome; effects: OutboxEntry[] }> => {
        const none = { writes: null, event: null };
        if (!item || !inference) return { ...none, result: { outcome: 'unknown', effects: [] } };
        if (isDecided(item)) return { ...none, result: { outcome: 'decided', effects: [] } };
        if (item.escalatedAt) return { ...none, result: { outcome: 'already_escalated', effects: [] } };
        // Cloud Tasks retries a non-2xx answer, so a check that fires early simply comes back.
        if (now < item.dueAt) throw new StateConflictError('this review item is not due yet');
        const escalated: ReviewItem = { ...item, escalatedAt: now };
        const event = this.deps.trail.seal(
          reviewEventDraft(
            frame,
            'review.escalated',
            inference,
            {
              reviewId: item.id,
              reviewer: hasLiveClaim(item, now) ? item.claimedBy : null,
              action: 'escalated',
              reasonCode: null,
              editHash: null,
              dueAt: item.dueAt.toISOString(),
            },
            this.deps.gatewayVersion,
          ),
          chainHeadOf(inference),
        );
        const effects = [
          outboxEntry.escalation(item, now),
          outboxEntry.reviewEvent(reviewEventMessage(escalated, event), now),
        ];
        return {
          writes: {
            item: escalated,
            inference: { ...inference, auditHead: headOf(event) },
            outbox: effects,
          },
          event,
          result: { outcome: 'escalated', effects },
        };
      },
    );
    await Promise.all(effects.map((entry) => this.deps.outbox.deliver(entry)));
    return outcome;
  }

  private transact<T>(
    reviewId: string,
    change: (current: ReviewSnapshot) => AuditedReviewChange<T>,
  ): Promise<T> {
    if (!reviewIdPattern.test(reviewId)) throw new NotFoundError('no such review item');
    const ids = { reviewId, inferenceId: inferenceIdFor(reviewId) };
    return commitReviewChange(this.deps.store, this.deps.trail, ids, change);
  }

  /** Storage failures become one retryable error; the rules' own errors pass through. */
  private guard<T>(op: () => Promise<T>): Promise<T> {
    return orUnavailable('review store', op);
  }
}

const decidedState = { approve: 'approved', edit: 'edited', reject: 'rejected' } as const;

/** The item and its inference, if both exist and belong to the caller's tenant; else 404. */
function ownItem(
  principal: Principal,
  inference: InferenceRecord | null,
  item: ReviewItem | null,
): { item: ReviewItem; inference: InferenceRecord } {
  // Another tenant's item is indistinguishable from a missing one.
  if (!item || !inference || item.tenant !== principal.tenant || inference.tenant !== principal.tenant) {
    throw new NotFoundError('no such review item');
  }
  return { item, inference };
}

type CheckedDecision = { output: unknown | null; reasonCode: ReasonCode | null; note: string | null };

/** The contract's rules for a decision body; each broken rule is one field problem (422). */
function checkDecision(item: ReviewItem, request: DecisionRequest): CheckedDecision {
  const problems: FieldProblem[] = [];
  const reasonCode = request.reasonCode ?? null;
  const note = request.note ?? null;
  switch (request.action) {
    case 'approve': {
      if (request.output !== undefined) {
        problems.push({ path: 'output', message: 'only an edit carries an output; use action "edit"' });
      }
      // A human approves, but the output the caller gets must still have the task's shape.
      const proposal = fitTaskSchema(item.task, item.proposal, 'proposal');
      if (!proposal.ok) {
        throw new UnprocessableError(
          "the model's proposal does not fit the task's output schema: edit or reject it",
          proposal.problems,
        );
      }
      if (problems.length > 0) break;
      return { output: proposal.value, reasonCode, note };
    }
    case 'edit': {
      if (reasonCode === null) problems.push({ path: 'reasonCode', message: 'required for edit' });
      if (request.output === undefined) {
        problems.push({ path: 'output', message: 'required for edit' });
        break;
      }
      const edited = fitTaskSchema(item.task, request.output, 'output');
      if (!edited.ok) problems.push(...edited.problems);
      if (problems.length > 0 || !edited.ok) break;
      return { output: edited.value, reasonCode, note };
    }
    case 'reject': {
      if (reasonCode === null) problems.push({ path: 'reasonCode', message: 'required for reject' });
      if (request.output !== undefined) {
        problems.push({ path: 'output', message: 'a rejection carries no output' });
      }
      if (problems.length > 0) break;
      return { output: null, reasonCode, note };
    }
  }
  throw new UnprocessableError(
    'the decision is incomplete, or its output does not fit the task’s output schema',
    problems,
  );
}

function fitTaskSchema(
  task: TaskName,
  value: unknown,
  prefix: string,
): { ok: true; value: unknown } | { ok: false; problems: FieldProblem[] } {
  const result = taskOutputSchemas[task].safeParse(value);
  if (result.success) return { ok: true, value: result.data };
  return {
    ok: false,
    problems: result.error.issues.map((issue) => ({
      path: [prefix, ...issue.path.map(String)].join('.'),
      message: issue.message,
    })),
  };
}
