import canonicalize from 'canonicalize';
import type { AuditRecord } from './auditQuery.js';
import { hashEvent } from './chain.js';
import { type AuditEvent, auditEventSchema } from './events.js';

/**
 * Recomputes the per-inference hash chains of the audit trail and reports what does not add up.
 *
 * Each chained event carries `sequence` (1, 2, 3... per inference), `prevHash` (the stored hash of the event
 * before it), `chainKeyId` and `hash` (HMAC-SHA-256, under that chain key, of its own canonical JSON without
 * `hash`). Without the key nobody can compute a hash that verifies, so:
 *
 *   an event edited, its hash recomputed its recomputed hash differs from the stored one    hash_mismatch
 *     (without the chain key)
 *   an event sealed with no key or a     nothing proves it was written by the gateway      unknown_key
 *     key id we do not hold
 *   two copies of one event's hash that  the log entry's index was rewritten apart from    copy_mismatch
 *     disagree (index vs event)            the event (or the other way round)
 *   a chained event edited with the key  the next event's prevHash no longer matches        broken_link
 *   an event deleted                    a sequence number is missing                       gap
 *   two events swapped in the chain     prevHash points at another event of the chain      reordered
 *   a forged or forked event            two different events with one sequence number      duplicate_sequence
 *   a forged copy under a real id        two different events of a chain with one eventId   duplicate_event_id
 *
 * The chain alone cannot show that its newest events were cut off; the completeness check does, against
 * the chain head each inference document keeps in Firestore. Exact copies of one event (a log pipeline may
 * deliver an entry twice; the audit repair sweep re-emits an event whose instance died after its emit but
 * before its pending copy was deleted, see pendingAudit.ts) are counted, not reported: same eventId, same
 * hash, same content is one event. The order events are stored in (file lines, BigQuery
 * rows) means nothing: concurrent writers append in any order; the chain's order is its sequence numbers.
 */

export type ChainProblem =
  | { kind: 'invalid_event'; origin: string; inferenceId: string | null; detail: string }
  | { kind: 'unknown_key'; origin: string; inferenceId: string | null; eventId: string; keyId: string | null }
  | { kind: 'copy_mismatch'; origin: string; inferenceId: string | null; eventId: string }
  | {
      kind: 'hash_mismatch';
      origin: string;
      inferenceId: string | null;
      sequence: number | null;
      eventId: string;
    }
  | { kind: 'gap'; inferenceId: string; missingFrom: number; missingTo: number }
  | { kind: 'duplicate_sequence'; inferenceId: string; sequence: number; eventIds: string[] }
  | { kind: 'duplicate_event_id'; inferenceId: string; eventId: string; sequences: (number | null)[] }
  | { kind: 'broken_link'; origin: string; inferenceId: string; sequence: number; eventId: string }
  | {
      kind: 'reordered';
      origin: string;
      inferenceId: string;
      sequence: number;
      eventId: string;
      /** The sequence number of the event this one's prevHash actually points at. */
      linksToSequence: number;
    };

export type VerificationReport = {
  /** Inferences whose chain was checked. */
  chains: number;
  /** Records read, including exact duplicates and unreadable ones. */
  events: number;
  /** Events that belong to no chain (breaker transitions, and 1.0 replays). */
  standalone: number;
  duplicatesIgnored: number;
  problems: ChainProblem[];
};

/** The source delivered one chain's events apart: a bug in the source, not a finding about the trail. */
export class UngroupedSourceError extends Error {
  override readonly name = 'UngroupedSourceError';
  constructor(readonly inferenceId: string) {
    super('the audit source delivered the events of one inference apart; chains must arrive grouped');
  }
}
export const isUngroupedSourceError = (e: unknown): e is UngroupedSourceError =>
  e instanceof UngroupedSourceError;

type Entry = {
  origin: string;
  raw: Record<string, unknown>;
  eventId: string;
  storedHash: string | null;
  /** Canonical JSON of the whole record, to tell an exact copy from a different event. */
  canonical: string | null;
};

/** Chain keys by key id (Secret Manager versions of the audit chain key). */
export type ChainKeys = ReadonlyMap<string, string>;

/**
 * Verifies records that arrive grouped by inference (see `AuditEventSource.chains`), in constant memory per
 * chain, with every chain key the trail may have been sealed with.
 */
export async function verifyChains(
  records: AsyncIterable<AuditRecord> | Iterable<AuditRecord>,
  keys: ChainKeys,
): Promise<VerificationReport> {
  const report: VerificationReport = {
    chains: 0,
    events: 0,
    standalone: 0,
    duplicatesIgnored: 0,
    problems: [],
  };
  let current = null as { inferenceId: string; entries: Entry[] } | null;
  const finished = new FinishedChains();

  for await (const record of records) {
    report.events++;
    if (!record.ok) {
      report.problems.push({
        kind: 'invalid_event',
        origin: record.origin,
        inferenceId: null,
        detail: record.error,
      });
      continue;
    }
    const entry = toEntry(record.origin, record.event, keys, report);
    if (record.indexHash !== undefined && record.indexHash !== entry.storedHash) {
      report.problems.push({
        kind: 'copy_mismatch',
        origin: record.origin,
        inferenceId: typeof record.event.inferenceId === 'string' ? record.event.inferenceId : null,
        eventId: entry.eventId,
      });
    }
    const inferenceId = typeof record.event.inferenceId === 'string' ? record.event.inferenceId : null;
    if (inferenceId === null || record.event.sequence === null) {
      // Standalone: only its own hash can be checked (done in toEntry).
      report.standalone++;
      if (inferenceId === null) continue;
    }
    if (current?.inferenceId !== inferenceId) {
      if (current) {
        verifyChain(current.inferenceId, current.entries, report);
        finished.add(current.inferenceId);
      }
      if (finished.has(inferenceId)) throw new UngroupedSourceError(inferenceId);
      current = { inferenceId, entries: [] };
    }
    current.entries.push(entry);
  }
  if (current) verifyChain(current.inferenceId, current.entries, report);
  return report;
}

/** Checks one record on its own: schema and recomputed hash. */
function toEntry(
  origin: string,
  raw: Record<string, unknown>,
  keys: ChainKeys,
  report: VerificationReport,
): Entry {
  const inferenceId = typeof raw.inferenceId === 'string' ? raw.inferenceId : null;
  const eventId = typeof raw.eventId === 'string' ? raw.eventId : '(no eventId)';
  const parsed = auditEventSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    report.problems.push({
      kind: 'invalid_event',
      origin,
      inferenceId,
      detail: first ? `${first.path.join('.') || '(event)'}: ${first.message}` : 'does not match the schema',
    });
  }
  const storedHash = typeof raw.hash === 'string' ? raw.hash : null;
  const { hash: _stored, ...unsealed } = raw;
  const keyId = typeof raw.chainKeyId === 'string' ? raw.chainKeyId : null;
  const secret = keyId === null ? undefined : keys.get(keyId);
  let canonical: string | null = null;
  try {
    canonical = canonicalize(raw) ?? null;
  } catch {
    // Not canonicalizable (e.g. a lone surrogate): cannot match any hash the gateway computed.
  }
  if (secret === undefined) {
    report.problems.push({ kind: 'unknown_key', origin, inferenceId, eventId, keyId });
    return { origin, raw, eventId, storedHash, canonical };
  }
  let recomputed: string | null = null;
  try {
    recomputed = hashEvent(unsealed as Omit<AuditEvent, 'hash'>, secret);
  } catch {
    // As above: nothing the gateway sealed.
  }
  if (storedHash === null || recomputed !== storedHash) {
    report.problems.push({
      kind: 'hash_mismatch',
      origin,
      inferenceId,
      sequence: typeof raw.sequence === 'number' ? raw.sequence : null,
      eventId,
    });
  }
  return { origin, raw, eventId, storedHash, canonical };
}

function verifyChain(inferenceId: string, entries: Entry[], report: VerificationReport): void {
  const bySequence = new Map<number, Entry[]>();
  for (const entry of entries) {
    const sequence = entry.raw.sequence;
    if (typeof sequence !== 'number' || !Number.isInteger(sequence) || sequence < 1) continue;
    const same = bySequence.get(sequence);
    if (!same) {
      bySequence.set(sequence, [entry]);
    } else if (same.some((e) => e.canonical !== null && e.canonical === entry.canonical)) {
      report.duplicatesIgnored++;
    } else {
      same.push(entry);
    }
  }
  if (bySequence.size === 0) return;
  report.chains++;

  // Exact copies were set aside above; what is left under one eventId is more than one event.
  const byEventId = new Map<string, Entry[]>();
  for (const same of bySequence.values()) {
    for (const e of same) {
      const copies = byEventId.get(e.eventId);
      if (copies) copies.push(e);
      else byEventId.set(e.eventId, [e]);
    }
  }
  for (const [eventId, copies] of byEventId) {
    if (copies.length < 2) continue;
    report.problems.push({
      kind: 'duplicate_event_id',
      inferenceId,
      eventId,
      sequences: copies.map((e) => (typeof e.raw.sequence === 'number' ? e.raw.sequence : null)),
    });
  }

  const sequences = [...bySequence.keys()].sort((a, b) => a - b);
  const last = sequences[sequences.length - 1]!;
  let expected = 1;
  for (const sequence of sequences) {
    if (sequence > expected)
      report.problems.push({ kind: 'gap', inferenceId, missingFrom: expected, missingTo: sequence - 1 });
    expected = sequence + 1;
  }

  const sequenceOfHash = new Map<string, number>();
  for (const [sequence, same] of bySequence) {
    for (const e of same) if (e.storedHash !== null) sequenceOfHash.set(e.storedHash, sequence);
    if (same.length > 1) {
      report.problems.push({
        kind: 'duplicate_sequence',
        inferenceId,
        sequence,
        eventIds: same.map((e) => e.eventId),
      });
    }
  }

  for (let sequence = 1; sequence <= last; sequence++) {
    const same = bySequence.get(sequence);
    if (!same) continue;
    const before = sequence === 1 ? null : bySequence.get(sequence - 1);
    // After a gap there is nothing to link to; the gap is already reported.
    if (before === undefined) continue;
    const allowed = new Set<string | null>(before === null ? [null] : before.map((e) => e.storedHash));
    for (const entry of same) {
      const prevHash = typeof entry.raw.prevHash === 'string' ? entry.raw.prevHash : null;
      if (allowed.has(prevHash)) continue;
      const linksTo = prevHash === null ? undefined : sequenceOfHash.get(prevHash);
      if (linksTo !== undefined && linksTo !== sequence) {
        report.problems.push({
          kind: 'reordered',
          origin: entry.origin,
          inferenceId,
          sequence,
          eventId: entry.eventId,
          linksToSequence: linksTo,
        });
      } else {
        report.problems.push({
          kind: 'broken_link',
          origin: entry.origin,
          inferenceId,
          sequence,
          eventId: entry.eventId,
        });
      }
    }
  }
}

/**
 * Remembers which chains are done, to catch a source that does not group them. Sources deliver chains in
 * inference id order, so "done" is "ordered before the chain being read": no set of every id is kept.
 */
class FinishedChains {
  private last: string | null = null;
  add(inferenceId: string): void {
    this.last = inferenceId;
  }
  has(inferenceId: string): boolean {
    return this.last !== null && inferenceId <= this.last;
  }
}
