import type { AuditEventSource, TimeRange } from './auditQuery.js';
import type { ReviewAction, ReviewOutcome } from './calibration.js';
import { type AuditEvent, auditEventSchema } from './events.js';

/**
 * The outputs scored in a time range with what their reviewers decided, read from the audit trail alone.
 * Each inference's chain holds its scoring event (`inference.completed`, or `inference.routed_to_review`
 * when it was withheld below the threshold), which carries the confidence, threshold, scorer version, model,
 * prompt template and whether a confident output was sampled for review; and, once decided, its
 * `review.decided` event with the action. Decisions made after the range count: a review outlives it.
 *
 * The chains come through `AuditEventSource.chains` (both backends): one inference's events arrive
 * together, so only one chain is held at a time. Events that fail the schema are skipped (the verifier
 * reports them); hashes are not checked here (that is `audit:verify`).
 */
export async function* reviewOutcomes(
  source: AuditEventSource,
  range: TimeRange,
  filter: { task?: string } = {},
): AsyncIterable<ReviewOutcome> {
  let chainId: string | null = null;
  let chain: AuditEvent[] = [];
  const flush = () => {
    const outcome = outcomeOf(chain, range);
    chain = [];
    return outcome && (filter.task === undefined || outcome.task === filter.task) ? outcome : null;
  };
  // The range's chains, read from its start: a scoring event in the range is the chain's first event.
  for await (const record of source.chains({ kind: 'range', range, since: range.from })) {
    if (!record.ok) continue;
    const parsed = auditEventSchema.safeParse(record.event);
    if (!parsed.success || parsed.data.inferenceId === null) continue;
    if (parsed.data.inferenceId !== chainId) {
      const outcome = flush();
      if (outcome) yield outcome;
      chainId = parsed.data.inferenceId;
    }
    chain.push(parsed.data);
  }
  const outcome = flush();
  if (outcome) yield outcome;
}

/** The outcome of one inference's events, or null if it was not scored in the range (or not scored at all). */
export function outcomeOf(events: readonly AuditEvent[], range: TimeRange): ReviewOutcome | null {
  const scored = events.find(
    (e) => e.eventType === 'inference.completed' || e.eventType === 'inference.routed_to_review',
  );
  const d = scored?.decision;
  if (!scored || !d || d.confidence === null || d.threshold === null) return null;
  // An output that is not valid is reviewed whatever the threshold: no threshold decides about it.
  if (d.scoreBasis === 'invalid_output') return null;
  const at = Date.parse(scored.timestamp);
  if (at < range.from.getTime() || at >= range.to.getTime()) return null;
  const review: ReviewOutcome['review'] =
    scored.eventType === 'inference.routed_to_review' ? 'census' : d.sampledForReview ? 'sampled' : 'none';
  let action: ReviewAction | null = null;
  let decidedAt = -1;
  for (const e of events) {
    const a = e.review?.action;
    if (e.eventType !== 'review.decided' || (a !== 'approve' && a !== 'edit' && a !== 'reject')) continue;
    // The last decision counts (a decision is final; a second one would be a bug upstream).
    if ((e.sequence ?? 0) >= decidedAt) {
      decidedAt = e.sequence ?? 0;
      action = a;
    }
  }
  return {
    inferenceId: scored.inferenceId ?? '(unknown)',
    task: scored.task ?? '(unknown)',
    model: d.model ?? '(unknown)',
    scorerVersion: d.scorerVersion ?? '(unknown)',
    promptTemplateVersion: d.promptTemplateVersion ?? '(unknown)',
    confidence: d.confidence,
    threshold: d.threshold,
    at,
    review,
    action: review === 'none' ? null : action,
  };
}
