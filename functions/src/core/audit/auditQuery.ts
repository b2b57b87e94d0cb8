import type { AuditIndex } from './auditIndex.js';
import type { AuditEventType } from './events.js';

/**
 * Reading the audit trail back. Two implementations answer the same questions: BigQuery (production: the
 * dataset the log sink fills) and the local audit file (`AUDIT_LOG_FILE`). Everything built on top
 * (verification, provenance, completeness, reviewer agreement) is written once, against this interface.
 *
 * Results stream: an audit trail may hold years of events, and the commands must not need them in memory.
 */

/** A half-open time range `[from, to)`. */
export type TimeRange = { from: Date; to: Date };

/**
 * One stored event exactly as read back, before any validation: the verifier must see what is really there,
 * including events that no longer parse. `origin` says where it is (a file line, a BigQuery insertId).
 */
export type AuditRecord =
  | {
      ok: true;
      event: Record<string, unknown>;
      origin: string;
      /** The hash in the entry's index (`jsonPayload.audit.hash`), where the source stores one apart. */
      indexHash?: string | null;
    }
  | { ok: false; error: string; origin: string };

export type VerificationScope =
  | { kind: 'all' }
  /**
   * The chains of the inferences that have an event in `range`, read from `since` on (a chain starts
   * before its later events: `since` must reach back to the oldest inference still being reviewed), plus
   * the standalone events in `range`.
   */
  | { kind: 'range'; range: TimeRange; since: Date };

export interface AuditEventSource {
  /** Every event of one inference, in sequence order; only those at or after `since` if given. */
  eventsOfInference(inferenceId: string, since?: Date): AsyncIterable<AuditRecord>;
  /**
   * Events for verification, grouped by chain: all the events of one inference arrive together, in
   * sequence order, and chains arrive in inference id order (so a verifier can tell a source that splits
   * a chain without remembering every id). Events of no inference arrive in any position.
   */
  chains(scope: VerificationScope): AsyncIterable<AuditRecord>;
  /** Index rows of the events emitted in `range`, optionally only of some types. */
  indexBetween(range: TimeRange, eventTypes?: readonly AuditEventType[]): AsyncIterable<AuditIndex>;
  /** Index rows of every event of these inferences emitted at or after `since`, optionally of some types. */
  indexOfInferences(
    inferenceIds: readonly string[],
    since: Date,
    eventTypes?: readonly AuditEventType[],
  ): AsyncIterable<AuditIndex>;
}

export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

/** Parses one stored line or column of JSON into a record; a line that is not a JSON object is kept as bad. */
export function parseRecord(text: string, origin: string): AuditRecord {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      return { ok: true, event: value as Record<string, unknown>, origin };
    }
    return { ok: false, error: 'not a JSON object', origin };
  } catch {
    return { ok: false, error: 'not valid JSON', origin };
  }
}
