import { type AuditEventSource, type AuditRecord, collect } from './auditQuery.js';
import { type ChainKeys, type VerificationReport, verifyChains } from './chainVerifier.js';

/**
 * Everything the audit trail holds about one inference, in order, with its chain verified: who asked, what
 * the model answered and how sure it was, who reviewed it and what they decided, who received or read it.
 */
export type Provenance = {
  inferenceId: string;
  /** Chain events in sequence order, with standalone events (reads, 1.0 replays) placed by time. */
  records: AuditRecord[];
  verification: VerificationReport;
};

export async function provenanceOf(
  source: AuditEventSource,
  inferenceId: string,
  keys: ChainKeys,
  since?: Date,
): Promise<Provenance> {
  const records = await collect(source.eventsOfInference(inferenceId, since));
  const verification = await verifyChains(records, keys);
  return { inferenceId, records: inTimelineOrder(records), verification };
}

/**
 * Chain events keep their sequence order even when instance clocks disagree; events outside the chain
 * are merged in by timestamp. Unreadable records go last.
 */
export function inTimelineOrder(records: readonly AuditRecord[]): AuditRecord[] {
  const sequenceOf = (r: AuditRecord) =>
    r.ok && typeof r.event.sequence === 'number' ? r.event.sequence : null;
  const timeOf = (r: AuditRecord) =>
    r.ok && typeof r.event.timestamp === 'string' ? Date.parse(r.event.timestamp) : Number.NaN;
  const chained = records
    .filter((r) => sequenceOf(r) !== null)
    .sort((a, b) => sequenceOf(a)! - sequenceOf(b)!);
  const loose = records.filter((r) => r.ok && sequenceOf(r) === null).sort((a, b) => timeOf(a) - timeOf(b));
  const unreadable = records.filter((r) => !r.ok);
  const merged: AuditRecord[] = [];
  let i = 0;
  for (const event of chained) {
    while (i < loose.length && timeOf(loose[i]!) < timeOf(event)) merged.push(loose[i++]!);
    merged.push(event);
  }
  return [...merged, ...loose.slice(i), ...unreadable];
}
