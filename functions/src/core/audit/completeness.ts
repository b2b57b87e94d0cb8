import type { AuditIndex } from './auditIndex.js';
import type { AuditEventSource, TimeRange } from './auditQuery.js';
import type { ChainHead } from './chain.js';
import type { AuditEventType } from './events.js';

/**
 * Does every decision the gateway recorded have its audit events? The ledger (the `inferences` documents)
 * is the record of what was decided; the audit trail must account for each decision:
 *
 *   answered at once (completed, also when   inference.completed
 *     sampled for a quality review)
 *   withheld for review (pending_review,     inference.routed_to_review
 *     or completed/rejected by a reviewer)
 *   any review decided                       review.decided
 *   always                                   every chain event 1..head, the last one with the head's hash
 *
 * The chain head that each inference document keeps (sequence and hash of its newest event, written in the
 * same transaction as the state change the event records) is what catches a missing event of any type,
 * a chain cut short, or a chain rewritten end to end. An event found twice with the same id and hash is one
 * event (the audit repair sweep may re-emit an event that was already in the sink: pendingAudit.ts); two
 * different events under one id are reported. Failed inferences (503) leave no document and so are
 * not checked here; their events stand alone.
 */

export type LedgerDecision = {
  inferenceId: string;
  tenant: string;
  status: 'completed' | 'pending_review' | 'rejected';
  createdAt: Date;
  reviewState: 'pending' | 'approved' | 'edited' | 'rejected' | null;
  /** A confident output answered at once and also queued for a quality review. */
  sampledForReview: boolean;
  /** Null for documents written before chain heads were kept. */
  auditHead: ChainHead | null;
};

/** Where the decisions come from (Firestore in production and locally). */
export interface DecisionLedger {
  /** Decisions created in `range`, in pages, oldest first. */
  decisionsCreatedBetween(range: TimeRange, options?: { tenant?: string }): AsyncIterable<LedgerDecision[]>;
}

export type MissingAudit =
  | { kind: 'event'; eventType: AuditEventType }
  | { kind: 'sequence'; from: number; to: number }
  | { kind: 'head_mismatch'; sequence: number }
  /** Different events under one id: one of them is not what the gateway emitted. */
  | { kind: 'conflicting_event'; eventId: string };

export type IncompleteDecision = {
  inferenceId: string;
  tenant: string;
  status: LedgerDecision['status'];
  createdAt: Date;
  missing: MissingAudit[];
};

export type CompletenessReport = {
  range: TimeRange;
  decisionsChecked: number;
  incomplete: IncompleteDecision[];
};

/**
 * Events are stamped by the instance that emits them; a decision's first event is never older than the
 * decision, but another instance's clock may be a little behind. Events are searched from this much
 * before the oldest decision of a page.
 */
export const CLOCK_SKEW_MS = 5 * 60_000;

export async function checkCompleteness(
  ledger: DecisionLedger,
  source: AuditEventSource,
  range: TimeRange,
  options: { tenant?: string } = {},
): Promise<CompletenessReport> {
  const report: CompletenessReport = { range, decisionsChecked: 0, incomplete: [] };
  for await (const page of ledger.decisionsCreatedBetween(range, options)) {
    if (page.length === 0) continue;
    const oldest = Math.min(...page.map((d) => d.createdAt.getTime()));
    const events = new Map<string, AuditIndex[]>();
    for await (const row of source.indexOfInferences(
      page.map((d) => d.inferenceId),
      new Date(oldest - CLOCK_SKEW_MS),
    )) {
      if (!row.inference_id) continue;
      const list = events.get(row.inference_id);
      if (list) list.push(row);
      else events.set(row.inference_id, [row]);
    }
    for (const decision of page) {
      report.decisionsChecked++;
      const missing = missingAudit(decision, events.get(decision.inferenceId) ?? []);
      if (missing.length > 0) {
        report.incomplete.push({
          inferenceId: decision.inferenceId,
          tenant: decision.tenant,
          status: decision.status,
          createdAt: decision.createdAt,
          missing,
        });
      }
    }
  }
  return report;
}

/** What the audit trail lacks for one decision, given every event found for its inference. */
export function missingAudit(decision: LedgerDecision, events: readonly AuditIndex[]): MissingAudit[] {
  const missing: MissingAudit[] = [];
  const has = (type: AuditEventType) => events.some((e) => e.event_type === type);
  const withheld = decision.reviewState !== null && !decision.sampledForReview;
  const decided = decision.reviewState !== null && decision.reviewState !== 'pending';
  const required: AuditEventType[] = [
    withheld ? 'inference.routed_to_review' : 'inference.completed',
    ...(decided ? (['review.decided'] as const) : []),
  ];
  for (const eventType of required) if (!has(eventType)) missing.push({ kind: 'event', eventType });

  const head = decision.auditHead;
  if (head && head.sequence > 0) {
    const present = new Set(events.flatMap((e) => (e.sequence === undefined ? [] : [e.sequence])));
    let runStart: number | null = null;
    for (let sequence = 1; sequence <= head.sequence + 1; sequence++) {
      const absent = sequence <= head.sequence && !present.has(sequence);
      if (absent && runStart === null) runStart = sequence;
      if (!absent && runStart !== null) {
        missing.push({ kind: 'sequence', from: runStart, to: sequence - 1 });
        runStart = null;
      }
    }
    const newest = events.filter((e) => e.sequence === head.sequence);
    if (newest.length > 0 && !newest.some((e) => e.hash === head.hash)) {
      missing.push({ kind: 'head_mismatch', sequence: head.sequence });
    }
  }
  const hashOfId = new Map<string, string>();
  const conflicting = new Set<string>();
  for (const e of events) {
    const seen = hashOfId.get(e.event_id);
    if (seen === undefined) hashOfId.set(e.event_id, e.hash);
    else if (seen !== e.hash) conflicting.add(e.event_id);
  }
  for (const eventId of conflicting) missing.push({ kind: 'conflicting_event', eventId });
  return missing;
}
