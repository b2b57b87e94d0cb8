import { randomUUID } from 'node:crypto';
import type { AuditTrail } from '../audit/auditTrail.js';
import type { AuditDraft } from '../audit/chain.js';
import { AUDIT_SCHEMA_VERSION, type AuditEvent, emptyDecision } from '../audit/events.js';
import { type Clock, dateClock } from '../clock.js';
import type { LapsedClaimAudit, LedgerRecord, Versioned } from './ledger.js';

/**
 * Claims that lapsed: a holder that called a provider and then died (killed, crashed, out of memory) before
 * its completion committed leaves no decision and, without this, no audit event either, although the note
 * reached a provider. Its claim is the only trace: the ledger record, `in_progress`, whose lease ran out.
 *
 * A lapsed claim is audited once, by whoever ends it, in the same atomic write that ends it:
 *
 * - a retry that takes the key over (`IdempotencyLedger.claim`): the takeover commits the pending copy of
 *   the abandonment event with the new claim;
 * - the sweep below, for a key nobody retried: it deletes the record, conditioned on the version it read,
 *   and commits the pending copy with the deletion.
 *
 * Either write also fences the holder: its completion is conditioned on the claim's write time, which it
 * changes, so a holder that was only slow (its completion queued in a stalled Firestore) can never land a
 * decision beside an abandonment. Such a holder records its own failure (`lease_lost`), with the provider
 * calls it made; the abandonment event stands alone (no chain sequence) so the two never fork a chain. The
 * pending copy (core/audit/pendingAudit.ts) makes the event survive the instance that ended the claim.
 */

/** The audit of lapsed claims through the audit trail: standalone events, emitted once committed. */
export function auditLapsedClaims(
  trail: Pick<AuditTrail, 'sealStandalone' | 'emitCommitted'>,
  options: { gatewayVersion: string; clock?: Clock },
): LapsedClaimAudit {
  const now = dateClock(options.clock);
  return {
    seal: (record) =>
      trail.sealStandalone(
        abandonmentDraft(record, {
          eventId: randomUUID(),
          now: now(),
          gatewayVersion: options.gatewayVersion,
        }),
      ),
    committed: (event) => trail.emitCommitted(event),
  };
}

/** The record's id, with its value and version. */
export type StoredLedgerRecord = Versioned<LedgerRecord> & { id: string };

export interface LapsedClaimStore {
  /** Records still in progress whose lease ran out before `before`, oldest lease first. */
  listLapsed(before: Date, limit: number): Promise<StoredLedgerRecord[]>;
  /**
   * Deletes the record if it is still at `version`, and commits `event`'s pending copy in the same write;
   * false if the record changed meanwhile (completed, released or taken over: nothing is written).
   */
  endLapsed(id: string, version: unknown, event: AuditEvent): Promise<boolean>;
}

export type LapsedClaimSweepOptions = {
  /** Past its lease by this much at least: a holder's completion still on its way is not raced. */
  graceMs: number;
  /** Records ended per sweep at most (the next sweep takes the rest). */
  limit: number;
};

export class LapsedClaimSweep {
  private readonly now: () => Date;

  constructor(private readonly deps: { store: LapsedClaimStore; audit: LapsedClaimAudit; clock?: Clock }) {
    this.now = dateClock(deps.clock);
  }

  /** Ends every lapsed claim found, each with its abandonment event. */
  async sweep(options: LapsedClaimSweepOptions): Promise<{ abandoned: number }> {
    const before = new Date(this.now().getTime() - options.graceMs);
    const lapsed = await this.deps.store.listLapsed(before, options.limit);
    let abandoned = 0;
    for (const { id, value, version } of lapsed) {
      if (value.state !== 'in_progress') continue;
      const event = this.deps.audit.seal(value);
      if (!(await this.deps.store.endLapsed(id, version, event))) continue;
      await this.deps.audit.committed(event);
      abandoned++;
    }
    return { abandoned };
  }
}

/**
 * The abandonment event of a lapsed claim: `inference.failed` with `failureReason: "abandoned"`, about the
 * holder's inference id, with the requester as actor. Which providers were called is not known (the holder
 * never said): `routing` is null.
 */
export function abandonmentDraft(
  record: LedgerRecord,
  options: { eventId: string; now: Date; gatewayVersion: string },
): AuditDraft {
  const requester = record.requester ?? null;
  return {
    schemaVersion: AUDIT_SCHEMA_VERSION,
    eventId: options.eventId,
    eventType: 'inference.failed',
    timestamp: options.now.toISOString(),
    tenant: record.tenant,
    actor: requester
      ? { subject: requester.subject, tenant: record.tenant, role: 'clinician' }
      : { subject: 'gateway', tenant: record.tenant, role: 'system' },
    inferenceId: record.inferenceId,
    patientRef: requester?.patientRef ?? null,
    encounterRef: requester?.encounterRef ?? null,
    gatewayVersion: options.gatewayVersion,
    trace: requester?.trace ?? null,
    task: requester?.task ?? null,
    decision: { ...emptyDecision, status: 'failed', failureReason: 'abandoned' },
    review: null,
    breaker: null,
  };
}
