import { type AgreementReport, share } from '../core/audit/agreement.js';
import type { ChainProblem, VerificationReport } from '../core/audit/chainVerifier.js';
import type { CompletenessReport, MissingAudit } from '../core/audit/completeness.js';
import { type AuditEvent, auditEventSchema } from '../core/audit/events.js';
import type { Provenance } from '../core/audit/provenance.js';

/** Human-readable renderings of the audit reports, one string a line. `--json` prints the reports as they are. */

export function provenanceText(p: Provenance): string[] {
  if (p.records.length === 0) {
    return [
      `Inference ${p.inferenceId}: no audit events found (unknown id, another backend, or older than --since)`,
    ];
  }
  const lines = [
    `Inference ${p.inferenceId}: ${p.records.length} audit event${p.records.length === 1 ? '' : 's'}; ${verdict(p.verification)}`,
  ];
  for (const record of p.records) {
    const parsed = record.ok ? auditEventSchema.safeParse(record.event) : null;
    if (!parsed?.success) {
      lines.push(`  ?   unreadable or invalid record (${record.origin}); see the problems below`);
      continue;
    }
    lines.push(...eventLines(parsed.data));
  }
  if (p.verification.problems.length > 0) lines.push(...problemLines(p.verification.problems));
  return lines;
}

function eventLines(e: AuditEvent): string[] {
  const position = e.sequence === null ? '-   ' : `#${e.sequence}`.padEnd(4);
  const lines = [
    `  ${position}${e.timestamp}  ${e.eventType}  by ${e.actor.role} ${e.actor.subject} (tenant ${e.tenant})`,
  ];
  const details: string[] = [];
  if (e.patientRef || e.encounterRef)
    details.push(`patient ${e.patientRef ?? '-'}, encounter ${e.encounterRef ?? '-'}`);
  if (e.task) details.push(`task ${e.task}`);
  const d = e.decision;
  if (d) {
    if (d.provider || d.model) {
      details.push(
        `model ${d.provider ?? '?'}/${d.model ?? '?'}${d.modelVersion ? ` (version ${d.modelVersion})` : ''}`,
      );
    }
    if (d.routing && d.routing.attempts.length > 0) {
      const tried = d.routing.attempts.map(
        (a) => `${a.provider}[${a.breakerState}]: ${a.outcome}${a.failureKind ? ` (${a.failureKind})` : ''}`,
      );
      details.push(`tried ${tried.join(', ')}${d.routing.fallbackTaken ? '; fallback taken' : ''}`);
    }
    if (d.confidence !== null) {
      const threshold = d.threshold === null ? '' : ` vs threshold ${d.threshold}`;
      details.push(
        `confidence ${d.confidence}${threshold} (${d.scorerVersion ?? '?'}, ${d.scoreBasis ?? '?'})`,
      );
    }
    if (d.sampledForReview) details.push('sampled for quality review');
    if (d.status) details.push(`status ${d.status}${d.httpStatus ? ` (HTTP ${d.httpStatus})` : ''}`);
    if (d.failureReason) details.push(`failure ${d.failureReason}`);
    if (d.promptHash)
      details.push(`prompt ${d.promptTemplateVersion ?? '?'}, HMAC ${d.promptHash.slice(0, 16)}…`);
    if (d.latencyMs) details.push(`${d.latencyMs.total} ms`);
  }
  const r = e.review;
  if (r) {
    const parts = [
      `review ${r.reviewId}: ${r.action}`,
      r.reviewer ? ` by ${r.reviewer}` : '',
      r.reasonCode ? `, reason ${r.reasonCode}` : '',
      r.editHash ? `, edit HMAC ${r.editHash.slice(0, 16)}…` : '',
      r.dueAt ? `, due ${r.dueAt}` : '',
    ];
    details.push(parts.join(''));
  }
  details.push(`gateway ${e.gatewayVersion}`);
  lines.push(`        ${details.join('; ')}`);
  if (d && d.response !== null && d.response !== undefined)
    lines.push(`        response: ${JSON.stringify(d.response)}`);
  return lines;
}

export function verificationText(report: VerificationReport): string[] {
  return [
    `Checked ${report.chains} chain${report.chains === 1 ? '' : 's'} (${report.events} events, ${report.standalone} standalone, ${report.duplicatesIgnored} exact duplicates ignored): ${verdict(report)}`,
    ...problemLines(report.problems),
  ];
}

function verdict(report: VerificationReport): string {
  const n = report.problems.length;
  return n === 0 ? 'chain intact' : `${n} problem${n === 1 ? '' : 's'} found`;
}

function problemLines(problems: readonly ChainProblem[]): string[] {
  return problems.map(problemLine);
}

function problemLine(p: ChainProblem): string {
  switch (p.kind) {
    case 'invalid_event':
      return `  INVALID      ${p.origin}${p.inferenceId ? ` (${p.inferenceId})` : ''}: ${p.detail}`;
    case 'hash_mismatch':
      return `  ALTERED      ${p.inferenceId ?? 'standalone'} #${p.sequence ?? '-'} event ${p.eventId} (${p.origin}): its hash does not match its content`;
    case 'unknown_key':
      return `  UNKEYED      ${p.inferenceId ?? 'standalone'} event ${p.eventId} (${p.origin}): ${p.keyId ? `sealed with key ${p.keyId}, which is not among AUDIT_CHAIN_KEYS` : 'sealed without a chain key'}`;
    case 'copy_mismatch':
      return `  COPY DIFFERS ${p.inferenceId ?? 'standalone'} event ${p.eventId} (${p.origin}): the entry's index hash is not the event's hash`;
    case 'gap':
      return `  MISSING      ${p.inferenceId} #${p.missingFrom}${p.missingTo > p.missingFrom ? `–${p.missingTo}` : ''}: no event with ${p.missingTo > p.missingFrom ? 'these sequence numbers' : 'this sequence number'}`;
    case 'duplicate_sequence':
      return `  DUPLICATE    ${p.inferenceId} #${p.sequence}: different events ${p.eventIds.join(', ')}`;
    case 'duplicate_event_id':
      return `  SAME ID      ${p.inferenceId} event ${p.eventId}: different events under one id (#${p.sequences.join(', #')})`;
    case 'broken_link':
      return `  BROKEN LINK  ${p.inferenceId} #${p.sequence} event ${p.eventId} (${p.origin}): prevHash is not the hash of #${p.sequence - 1}`;
    case 'reordered':
      return `  REORDERED    ${p.inferenceId} #${p.sequence} event ${p.eventId} (${p.origin}): links to #${p.linksToSequence}, not #${p.sequence - 1}`;
  }
}

export function completenessText(report: CompletenessReport): string[] {
  const n = report.incomplete.length;
  const lines = [
    `Checked ${report.decisionsChecked} decision${report.decisionsChecked === 1 ? '' : 's'} created ${report.range.from.toISOString()} to ${report.range.to.toISOString()}: ${n === 0 ? 'every one has its audit events' : `${n} without all of their audit events`}`,
  ];
  for (const d of report.incomplete) {
    lines.push(
      `  ${d.inferenceId}  tenant ${d.tenant}  ${d.status}  created ${d.createdAt.toISOString()}: missing ${d.missing.map(missingText).join('; ')}`,
    );
  }
  return lines;
}

function missingText(m: MissingAudit): string {
  switch (m.kind) {
    case 'event':
      return m.eventType;
    case 'sequence':
      return m.from === m.to ? `chain event #${m.from}` : `chain events #${m.from}–${m.to}`;
    case 'head_mismatch':
      return `chain event #${m.sequence} with the hash the ledger holds`;
    case 'conflicting_event':
      return `one event ${m.eventId} (different events under this id)`;
  }
}

export function agreementText(report: AgreementReport): string[] {
  const lines = [
    `Reviewer agreement, decisions ${report.range.from.toISOString()} to ${report.range.to.toISOString()}, confidence bands of ${report.bandWidth}:`,
  ];
  if (report.rows.length === 0) lines.push('  no review decisions in this range');
  const header = ['task', 'model', 'confidence', 'reviewed', 'approved', 'edited', 'rejected', 'threshold'];
  const rows = report.rows.map((r) => [
    r.task,
    r.model,
    `[${r.band.low}, ${r.band.high}${r.band.high >= 1 ? ']' : ')'}`,
    String(r.reviewed),
    pct(r.approved, r.reviewed),
    pct(r.edited, r.reviewed),
    pct(r.rejected, r.reviewed),
    r.thresholds.join(', '),
  ]);
  const totals = report.totals.map((t) => [
    t.task,
    t.model,
    'all',
    String(t.reviewed),
    pct(t.approved, t.reviewed),
    pct(t.edited, t.reviewed),
    pct(t.rejected, t.reviewed),
    '',
  ]);
  if (rows.length > 0) lines.push(...table([header, ...rows, ...totals]));
  if (report.unmatchedDecisions > 0) {
    lines.push(
      `  ${report.unmatchedDecisions} decision(s) left out: their inference.routed_to_review event was not found (older than the lookback, or missing: run audit:completeness)`,
    );
  }
  return lines;
}

const pct = (part: number, whole: number) => `${(share(part, whole) * 100).toFixed(1)}%`;

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => `  ${r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')}`.trimEnd());
}
