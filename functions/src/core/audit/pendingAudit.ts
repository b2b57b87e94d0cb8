import { type Clock, dateClock } from '../clock.js';
import { parseRecord } from './auditQuery.js';
import { type AuditSink, type ReportAuditWriteFailure, writeAuditEvent } from './auditSink.js';
import { type AuditEvent, auditEventSchema } from './events.js';

/**
 * The transactional outbox of audit events. A chained event is committed twice in the same atomic write as
 * the change it records: as the chain head (which names it) and as a pending copy of the whole event. The
 * copy is deleted once the sink has the event; until then it is the event's durable form. So an instance
 * that dies between its commit and its emit (killed, crashed, its sink write lost or failed) leaves the
 * pending copy behind, and the repair sweep emits it later: no committed chain event is ever lost.
 *
 * The price is a possible duplicate (emitted, then died before the copy was deleted; or the deletion batch
 * was lost): the re-emitted event is byte-for-byte the same, and the verifier and the completeness check
 * count identical copies once (chainVerifier.ts).
 *
 * Events that join no chain (reads, replays, failures with no stored state, breaker transitions) have no
 * commit to ride on: a pending copy would be a Firestore write of its own on every read and replay. They are
 * not covered; a failed write of one stays a logged, alerted loss (auditSink.ts).
 */

/** A pending copy as stored: the event's exact JSON text, parsed only when it is re-emitted. */
export type PendingAuditEvent = {
  eventId: string;
  eventJson: string;
  createdAt: Date;
  /** Where the store's next page starts after this copy (opaque: the store's own timestamp, unrounded). */
  position?: unknown;
};

export interface PendingAuditStore {
  /** Pending copies created before `before`, oldest first, after `after` (a cursor from the last page). */
  listOlderThan(before: Date, limit: number, after: PendingAuditEvent | null): Promise<PendingAuditEvent[]>;
  /** Deletes these copies (one batched write); deleting one that is already gone is not an error. */
  delete(eventIds: readonly string[]): Promise<void>;
}

export type PendingReleaseOptions = {
  /** How long ids wait for their batched deletion at most. */
  intervalMs: number;
  /** A batch is written at once when this many ids are waiting (Firestore: at most 500 writes per batch). */
  maxBatch: number;
};

export const DEFAULT_PENDING_RELEASE: PendingReleaseOptions = { intervalMs: 1_000, maxBatch: 400 };

/**
 * Deletes the pending copies of emitted events, off the request path: a request only pushes an id; one
 * batched write per instance goes out every `intervalMs` (or at once at `maxBatch` ids). A deletion that
 * fails, or never happens (the instance stops), only means the repair sweep emits that event once more.
 */
export class PendingAuditReleaser {
  private ids: string[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: Pick<PendingAuditStore, 'delete'>,
    private readonly options: PendingReleaseOptions = DEFAULT_PENDING_RELEASE,
  ) {}

  /** The event is in the sink: its pending copy may go. */
  release(eventId: string): void {
    this.ids.push(eventId);
    if (this.ids.length >= this.options.maxBatch) {
      void this.flush();
    } else if (this.timer === null) {
      this.timer = setTimeout(() => void this.flush(), this.options.intervalMs);
      // Never what keeps a process alive.
      this.timer.unref?.();
    }
  }

  /** Writes the waiting deletions now; resolves once they (and any earlier batch) are done. Never rejects. */
  flush(): Promise<void> {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const ids = this.ids;
    this.ids = [];
    if (ids.length > 0) {
      const previous = this.inFlight;
      this.inFlight = this.store
        .delete(ids)
        .catch(() => undefined)
        .then(() => previous);
    }
    return this.inFlight;
  }
}

export type AuditRepairOptions = {
  /** Copies younger than this are left alone: their own request is still emitting them. */
  graceMs: number;
  /** Copies read per page, and pages per sweep at most. */
  pageSize: number;
  maxPages: number;
};

export type AuditRepairResult = {
  /** Events emitted again from their pending copy (and the copy deleted). */
  reemitted: number;
  /** Copies whose event the sink did not take (kept: the next sweep tries again), or that cannot be read. */
  failed: number;
};

/**
 * The repair sweep: emits every pending copy older than the grace again, then deletes it. Runs with the
 * review outbox sweep (POST /jobs/sweep-review-outbox, every minute). A copy the sink refuses stays, is
 * reported as `audit_write_failed` once per sweep (so the alert keeps firing while the event is missing),
 * and is retried by the next sweep.
 */
export class AuditRepair {
  constructor(
    private readonly deps: {
      store: PendingAuditStore;
      sink: AuditSink;
      report: ReportAuditWriteFailure;
      /** Operational log at ERROR (ids only). */
      warn: (message: string, fields: Record<string, unknown>) => void;
      clock?: Clock;
    },
  ) {}

  async repair(options: AuditRepairOptions): Promise<AuditRepairResult> {
    const now = dateClock(this.deps.clock)();
    const before = new Date(now.getTime() - options.graceMs);
    const result: AuditRepairResult = { reemitted: 0, failed: 0 };
    let after: PendingAuditEvent | null = null;
    for (let page = 0; page < options.maxPages; page++) {
      const copies = await this.deps.store.listOlderThan(before, options.pageSize, after);
      const emitted: string[] = [];
      for (const copy of copies) {
        const event = readPending(copy);
        if (event === null) {
          // Not an event the sink would take; kept for a human (its TTL removes it eventually).
          this.deps.warn('pending audit event unreadable: not re-emitted', { eventId: copy.eventId });
          result.failed++;
          continue;
        }
        if (await writeAuditEvent(this.deps.sink, event, this.deps.report)) emitted.push(copy.eventId);
        else result.failed++;
      }
      if (emitted.length > 0) await this.deps.store.delete(emitted);
      result.reemitted += emitted.length;
      if (copies.length < options.pageSize) break;
      after = copies[copies.length - 1]!;
    }
    return result;
  }
}

function readPending(copy: PendingAuditEvent): AuditEvent | null {
  const record = parseRecord(copy.eventJson, `auditPending/${copy.eventId}`);
  if (!record.ok) return null;
  const parsed = auditEventSchema.safeParse(record.event);
  // The stored text, not the parsed value: the event is re-emitted exactly as it was sealed.
  return parsed.success && parsed.data.eventId === copy.eventId ? (record.event as AuditEvent) : null;
}
