import type { AuditIndex } from './auditIndex.js';
import type { AuditEventSource, TimeRange } from './auditQuery.js';

/**
 * How often reviewers agree with the model, per task and model and by confidence band: the share of
 * reviewed outputs approved as they were, edited, or rejected. A band where reviewers approve nearly
 * everything is a band the threshold could let through; a band with many edits above the threshold is one
 * it should not. Read from the audit trail only: each `review.decided` event in the range is joined to the
 * event that proposed its output, which holds the task, model and confidence: `inference.routed_to_review`
 * for an output held below the threshold, `inference.completed` for a confident one sampled for quality
 * review. The sampled ones are the only evidence above the threshold.
 */

export type AgreementCounts = { reviewed: number; approved: number; edited: number; rejected: number };

export type AgreementRow = AgreementCounts & {
  task: string;
  model: string;
  /** `[low, high)`; the last band includes 1. */
  band: { low: number; high: number };
  /** The threshold(s) in force for these outputs, to read the bands against. */
  thresholds: number[];
};

export type AgreementReport = {
  range: TimeRange;
  bandWidth: number;
  rows: AgreementRow[];
  totals: (AgreementCounts & { task: string; model: string })[];
  /** Decisions whose proposal event was not found (older than the lookback, or missing: run completeness). */
  unmatchedDecisions: number;
};

export async function agreementReport(
  source: AuditEventSource,
  range: TimeRange,
  options: { bandWidth: number; since: Date },
): Promise<AgreementReport> {
  const { bandWidth } = options;
  if (!(bandWidth > 0 && bandWidth <= 1)) throw new RangeError('bandWidth must be in (0, 1]');

  // The last decision per inference counts (a decision is final; a second one would be a bug upstream).
  const decisions = new Map<string, AuditIndex>();
  for await (const row of source.indexBetween(range, ['review.decided'])) {
    if (!row.inference_id) continue;
    const seen = decisions.get(row.inference_id);
    if (!seen || (row.sequence ?? 0) > (seen.sequence ?? 0)) decisions.set(row.inference_id, row);
  }
  const proposals = new Map<string, AuditIndex>();
  for await (const row of source.indexOfInferences([...decisions.keys()], options.since, [
    'inference.routed_to_review',
    'inference.completed',
  ])) {
    if (!row.inference_id) continue;
    // An inference is proposed once, by one of the two; should both appear, the review routing names it.
    const seen = proposals.get(row.inference_id);
    if (!seen || row.event_type === 'inference.routed_to_review') proposals.set(row.inference_id, row);
  }

  const bands = Math.ceil(1 / bandWidth - 1e-9);
  const rows = new Map<string, AgreementRow>();
  const totals = new Map<string, AgreementCounts & { task: string; model: string }>();
  let unmatchedDecisions = 0;
  for (const [inferenceId, decision] of decisions) {
    const proposal = proposals.get(inferenceId);
    if (!proposal || proposal.confidence === undefined) {
      unmatchedDecisions++;
      continue;
    }
    const task = proposal.task ?? decision.task ?? '(unknown)';
    const model = proposal.model ?? '(unknown)';
    const bandIndex = Math.min(bands - 1, Math.floor(proposal.confidence / bandWidth + 1e-9));
    const key = JSON.stringify([task, model, bandIndex]);
    const row = rows.get(key) ?? {
      task,
      model,
      band: { low: round(bandIndex * bandWidth), high: round(Math.min(1, (bandIndex + 1) * bandWidth)) },
      thresholds: [],
      ...zero(),
    };
    rows.set(key, row);
    if (proposal.threshold !== undefined && !row.thresholds.includes(proposal.threshold)) {
      row.thresholds.push(proposal.threshold);
    }
    const totalKey = JSON.stringify([task, model]);
    const total = totals.get(totalKey) ?? { task, model, ...zero() };
    totals.set(totalKey, total);
    for (const counts of [row, total]) count(counts, decision.review_action);
  }

  const byTaskModel = (a: { task: string; model: string }, b: { task: string; model: string }) =>
    a.task.localeCompare(b.task) || a.model.localeCompare(b.model);
  return {
    range,
    bandWidth,
    rows: [...rows.values()].sort((a, b) => byTaskModel(a, b) || a.band.low - b.band.low),
    totals: [...totals.values()].sort(byTaskModel),
    unmatchedDecisions,
  };
}

const zero = (): AgreementCounts => ({ reviewed: 0, approved: 0, edited: 0, rejected: 0 });

function count(counts: AgreementCounts, action: string | undefined): void {
  counts.reviewed++;
  if (action === 'approve') counts.approved++;
  else if (action === 'edit') counts.edited++;
  else if (action === 'reject') counts.rejected++;
}

/** Band edges as people write them (0.3, not 0.30000000000000004). */
const round = (x: number) => Math.round(x * 1e6) / 1e6;

export const share = (part: number, whole: number): number => (whole === 0 ? 0 : part / whole);
