import { DependencyUnavailableError, isGatewayError } from '../errors.js';
import { type Backoff, backoffDelayMs } from '../retry.js';
import { type AuditSink, writeAuditEvent } from './auditSink.js';
import { type AuditDraft, type ChainHead, type ChainKey, sealEvent, sealStandalone } from './chain.js';
import type { AuditEvent } from './events.js';

/**
 * The audited commit: the one sequence every audited state change follows.
 *
 *   1. seal    the event onto the inference's chain, against the head read in the same atomic write
 *   2. commit  the state writes, their outbox entries and the new chain head (which names the event's id),
 *              in one atomic write
 *   3. emit    the event to the audit sink
 *
 * The commit of step 2 also stores a pending copy of the event (pendingAudit.ts), deleted in a batch once
 * the emit succeeded: an instance that dies before or during step 3, or whose sink write fails, leaves the
 * copy, and the repair sweep emits it later.
 *
 * A commit can fail ambiguously: the write applied but the client saw UNAVAILABLE or DEADLINE_EXCEEDED, or
 * the SDK retried and the retry failed *because* the first try applied (ALREADY_EXISTS, "already decided",
 * a changed precondition). Then the head is read back: if it names our event, the change is committed and
 * our event is emitted as if nothing had happened; otherwise it did not happen and the error stands. So an
 * audit event is never lost to an ambiguous commit, and never contradicted by a false failure.
 *
 * When the head cannot be read back either (the store is stalled: the commit may still apply when it wakes),
 * the caller gets `CommitOutcomeUnknownError` (503) at once and the read-back is repeated in the background,
 * with backoff, for a few minutes: a commit that lands late gets its event emitted, and one that never does
 * its failure (`ifNeverLanded`), so the chain never records both.
 *
 * A change whose write is conditional on a version only it can meet once (the inference completion: the
 * claim's write time) may say `recommit`: then the background rounds also run the write again, so that a
 * write the store dropped (a stall outlived the client's own deadline, an outage answered UNAVAILABLE) still
 * lands once the store is back, instead of the answer being lost and the model called again for the retry.
 * Two runs cannot both apply (the first one changes the version the other is conditioned on), and every run
 * writes the same sealed event, so whichever lands, the chain is the same.
 */

/** What one run of a change produced: the event it sealed (null: nothing to write) and its result. */
export type Sealed<T> = { event: AuditEvent | null; result: T };

/** Reads an inference's chain head as stored (Firestore: the `auditHead` of the inference document). */
export interface ChainHeads {
  readHead(inferenceId: string): Promise<ChainHead | null>;
}

export type AuditTrailDeps = {
  sink: AuditSink;
  key: ChainKey;
  heads: ChainHeads;
  /**
   * Operational log at ERROR (an audit event not written, a commit outcome unknown): ids and kinds only,
   * never content.
   */
  warn: (message: string, fields?: Record<string, unknown>) => void;
  /**
   * Operational log at INFO: how an unknown outcome was resolved in the background (ids and kinds only), so
   * that each `outcome unknown` line has its ending. Absent: not logged.
   */
  info?: (message: string, fields?: Record<string, unknown>) => void;
  /**
   * Told each chained event the sink took, so its pending copy can be deleted (batched, off the request
   * path). Absent: copies are left to the repair sweep.
   */
  pending?: { release(eventId: string): void };
  /** When an unresolved commit is read back again (default: 1 s doubling to 30 s, 8 times). */
  recheck?: Backoff & { attempts: number };
  /**
   * When an unresolved `recommit` change is run again (default: 1 s doubling to 5 s, 30 times, about
   * 2.4 minutes): often, so that the write lands soon after the store is back, before a retry of the
   * request finds the claim's lease run out and takes the key over.
   */
  recommit?: Backoff & { attempts: number };
};

const DEFAULT_RECHECK = { minMs: 1_000, maxMs: 30_000, attempts: 8 } as const;
const DEFAULT_RECOMMIT = { minMs: 1_000, maxMs: 5_000, attempts: 30 } as const;

export type CommitOptions = {
  /**
   * Records the change's failure once it is known that it never committed (after a
   * `CommitOutcomeUnknownError`); `refusal` is the error a `recommit` run was refused with, if one was.
   */
  ifNeverLanded?: (refusal?: unknown) => Promise<void>;
  /**
   * `perform` may run again in the background while the outcome is unknown: it writes the same sealed event
   * under a precondition that only one run can meet.
   */
  recommit?: boolean;
};

export class AuditTrail {
  constructor(private readonly deps: AuditTrailDeps) {}

  /** Seals `draft` as the next event of the chain whose head is `head` (null: the first). */
  seal(draft: AuditDraft, head: ChainHead | null): AuditEvent {
    return sealEvent(draft, head, this.deps.key);
  }

  /**
   * Runs `perform`, which commits a change atomically and may run the change more than once (a transaction
   * retries); every run passes what it sealed through `track`. Emits the committed event, then returns the
   * committed result. Errors: the change's own (rules) and the store's, unchanged, when the change did not
   * commit.
   */
  async commit<T>(
    inferenceId: string,
    perform: (track: (sealed: Sealed<T>) => Sealed<T>) => Promise<Sealed<T>>,
    options: CommitOptions = {},
  ): Promise<T> {
    const attempts = new Map<string, Sealed<T>>();
    const track = (sealed: Sealed<T>) => {
      if (sealed.event) attempts.set(sealed.event.hash, sealed);
      return sealed;
    };
    let committed: Sealed<T>;
    try {
      committed = await perform(track);
    } catch (error) {
      // Nothing was sealed, so nothing was written: the error is the answer.
      if (attempts.size === 0) throw error;
      const landed = await this.resolveAmbiguous(inferenceId, attempts, error, () =>
        this.recheckLater(inferenceId, attempts, options.recommit ? () => perform(track) : null, options),
      );
      if (landed === 'unknown') throw new CommitOutcomeUnknownError({ cause: error });
      if (!landed) throw error;
      committed = landed;
    }
    if (committed.event) await this.emitCommitted(committed.event);
    return committed.result;
  }

  /** Seals and emits an event that joins no chain (a read, a replay, a failure with no stored state). */
  async record(draft: AuditDraft): Promise<AuditEvent> {
    const event = this.sealStandalone(draft);
    await this.emit(event);
    return event;
  }

  /** Seals an event that joins no chain, to be committed (its pending copy) before it is emitted. */
  sealStandalone(draft: AuditDraft): AuditEvent {
    return sealStandalone(draft, this.deps.key);
  }

  /**
   * Writes an event to the sink; a failure never changes the caller's answer (see `writeAuditEvent`).
   * Resolves true once the sink has it.
   */
  emit(event: AuditEvent): Promise<boolean> {
    return writeAuditEvent(this.deps.sink, event, this.deps.warn);
  }

  /**
   * The ending of an `outcome unknown`: `landed` (the first write applied after all), `written_again` (a
   * recommit applied), `refused` (the key was taken over) or `never_landed`.
   */
  private resolved(inferenceId: string, outcome: string, rounds: number): void {
    this.deps.info?.('audited commit outcome resolved', { inferenceId, outcome, rounds });
  }

  /** Emits an event whose pending copy was committed and, once the sink has it, lets the copy go. */
  async emitCommitted(event: AuditEvent): Promise<void> {
    if (await this.emit(event)) this.deps.pending?.release(event.eventId);
  }

  /** The run whose event the stored head names, if the change did commit after all; else null. */
  private async resolveAmbiguous<T>(
    inferenceId: string,
    attempts: ReadonlyMap<string, Sealed<T>>,
    error: unknown,
    recheckLater: () => void,
  ): Promise<Sealed<T> | null | 'unknown'> {
    let head: ChainHead | null;
    try {
      head = await this.deps.heads.readHead(inferenceId);
    } catch {
      this.deps.warn('audited commit outcome unknown: the chain head could not be read back', {
        inferenceId,
        error: isGatewayError(error) ? error.kind : error instanceof Error ? error.name : typeof error,
      });
      recheckLater();
      return 'unknown';
    }
    return landedRun(head, attempts);
  }

  /**
   * Resolves an unknown outcome in the background and emits the event of a run that turns out to have
   * committed. Each round reads the head back (a stalled store may apply our write after answering a read,
   * so a head that names none of ours is read again) or, for a `recommit` change, first runs the write again:
   * it lands if the store dropped ours, and fails its precondition if ours landed meanwhile (then the head
   * says so) or the key was taken over (then the head names none of ours). The last round only reads: a
   * write still queued then is long past its deadline. No run found committed: `ifNeverLanded`.
   */
  private recheckLater<T>(
    inferenceId: string,
    attempts: ReadonlyMap<string, Sealed<T>>,
    recommit: (() => Promise<Sealed<T>>) | null,
    options: CommitOptions,
  ): void {
    const schedule = recommit
      ? (this.deps.recommit ?? DEFAULT_RECOMMIT)
      : (this.deps.recheck ?? DEFAULT_RECHECK);
    const run = async () => {
      for (let attempt = 1; attempt <= schedule.attempts; attempt++) {
        await new Promise<void>((resolve) => setTimeout(resolve, backoffDelayMs(attempt, schedule)).unref());
        let refusal: unknown = null;
        if (recommit && attempt < schedule.attempts) {
          const outcome = await recommit().then(
            (sealed) => ({ sealed }),
            (error: unknown) => ({ error }),
          );
          if ('sealed' in outcome) {
            this.resolved(inferenceId, 'written_again', attempt);
            if (outcome.sealed.event) await this.emitCommitted(outcome.sealed.event);
            return;
          }
          // Unavailable: this write too may apply later. Otherwise the store answered and refused it, for a
          // run of ours that landed (the head names it) or because the key is someone else's now.
          if (!isGatewayError(outcome.error, 'dependency_unavailable')) refusal = outcome.error;
        }
        const head = await this.deps.heads.readHead(inferenceId).catch(() => undefined);
        if (head === undefined) continue;
        const landed = landedRun(head, attempts);
        if (landed?.event) {
          this.resolved(inferenceId, 'landed', attempt);
          await this.emitCommitted(landed.event);
          return;
        }
        if (refusal) {
          // Refused, and not for a run of ours: the key is someone else's now.
          this.resolved(inferenceId, 'refused', attempt);
          await options.ifNeverLanded?.(refusal);
          return;
        }
      }
      // Long past any deadline of the write: it never landed, and the caller's failure stands.
      this.resolved(inferenceId, 'never_landed', schedule.attempts);
      await options.ifNeverLanded?.();
    };
    void run().catch(() => undefined);
  }
}

/**
 * A change whose commit may or may not have applied, and whose outcome could not be read back yet: the
 * caller answers 503 and does not record a failure of its own; the trail reads the outcome back later and
 * then emits either the committed event or, through `ifNeverLanded`, the failure.
 */
export class CommitOutcomeUnknownError extends DependencyUnavailableError {
  constructor(options: { cause: unknown }) {
    super('store (commit outcome unknown)', 2, options);
  }
}
export const isCommitOutcomeUnknownError = (e: unknown): e is CommitOutcomeUnknownError =>
  e instanceof CommitOutcomeUnknownError;

/** The run whose event `head` names, if any. */
function landedRun<T>(head: ChainHead | null, attempts: ReadonlyMap<string, Sealed<T>>): Sealed<T> | null {
  const mine = head ? attempts.get(head.hash) : undefined;
  return mine && mine.event?.eventId === head?.eventId ? mine : null;
}
