import { createHash, randomFillSync, randomUUID } from 'node:crypto';
import type { AuditEvent } from '../audit/events.js';
import { type Clock, dateClock } from '../clock.js';
import { IdempotencyKeyReusedError, orUnavailable, RequestInProgressError } from '../errors.js';
import { type Backoff, backoffDelayMs } from '../retry.js';

/**
 * The idempotency ledger: one record per (tenant, key). The rules live here; a storage adapter supplies a
 * few atomic primitives (`LedgerStore`). State machine of one record:
 *
 *            create (atomic, fails if present)
 *   (none) ───────────────────────────────────▶ in_progress ──complete (owner checked)──▶ completed
 *     ▲                                            │  ▲                                      │
 *     └──────── release (owner checked) ───────────┘  └─ takeover: lease expired, the record ─┘
 *     └──────── expired (expiresAt passed): treated as absent, replaced on the next claim ────┘
 *
 * The model call happens between claim and complete, outside any transaction. A holder whose lease was taken
 * over cannot complete: completion is one write conditioned on the record's version as the claim left it
 * (Firestore: its update time), so the check and the write are one atomic step, without a read. A claim that
 * lapsed (its holder never finished) is audited by the write that ends it (lapsedClaims.ts).
 */

export type StoredResponse = { status: number; body: string };

/** Who asked for a claim's request, kept with the claim so that a claim that lapses can be audited. */
export type ClaimRequester = {
  subject: string;
  task: string;
  patientRef: string | null;
  encounterRef: string | null;
  trace: string | null;
};

/**
 * Seals the abandonment event of a lapsed claim, and emits it once its pending copy is committed
 * (lapsedClaims.ts).
 */
export interface LapsedClaimAudit {
  seal(record: LedgerRecord): AuditEvent;
  /** The write that ended the claim committed the event's pending copy: emit it (never throws). */
  committed(event: AuditEvent): Promise<void>;
}

type RecordBase = {
  tenant: string;
  fingerprint: string;
  ownerToken: string;
  inferenceId: string;
  createdAt: Date;
  /** After this the record is dead: a Firestore TTL policy deletes it (late), and code ignores it at once. */
  expiresAt: Date;
  /** Who asked: what the audit event of a claim that lapses names (absent on records written before). */
  requester?: ClaimRequester | undefined;
};

export type LedgerRecord =
  | (RecordBase & { state: 'in_progress'; leaseExpiresAt: Date })
  | (RecordBase & { state: 'completed'; completedAt: Date; response: StoredResponse });

/** An opaque version stamp the store uses for compare-and-swap (Firestore: the document's update time). */
export type Versioned<T> = { value: T; version: unknown };

/** The atomic primitives the ledger needs from storage. Everything else is rules, here. */
export interface LedgerStore {
  /** Creates the record unless one exists: the new record's version, or null if one existed. */
  create(id: string, record: LedgerRecord): Promise<{ version: unknown } | null>;
  get(id: string): Promise<Versioned<LedgerRecord> | null>;
  /**
   * Replaces the record only if it is still at `version`: the new version, or null if it changed
   * meanwhile. `lapsed`: the abandonment event of the record replaced, whose pending copy (pendingAudit.ts)
   * is committed in the same write.
   */
  replace(
    id: string,
    record: LedgerRecord,
    version: unknown,
    lapsed?: AuditEvent | null,
  ): Promise<{ version: unknown } | null>;
  /**
   * Deletes the record only if `ownerToken` still owns it and it is still in progress; false otherwise (a
   * completed record is never released: its stored answer must be replayed).
   */
  deleteIfOwner(id: string, ownerToken: string): Promise<boolean>;
}

/**
 * What a claim gives its holder: the right to run the request and complete the record. `version` is the
 * record's version as the claim wrote it: completion is a write conditioned on it, so a claim that was
 * taken over or released in the meantime can never complete (no read needed to check the owner).
 */
export type Claim = {
  recordId: string;
  version: unknown;
  tenant: string;
  ownerToken: string;
  inferenceId: string;
  fingerprint: string;
  createdAt: Date;
  leaseExpiresAt: Date;
  expiresAt: Date;
  requester?: ClaimRequester | undefined;
};

export type ClaimOutcome =
  | { kind: 'claimed'; claim: Claim; tookOver: boolean }
  | { kind: 'replay'; response: StoredResponse; inferenceId: string };

export type LedgerSettings = {
  ttlMs: number;
  leaseMs: number;
  clock?: Clock;
  /** When a claim write whose outcome is unknown is released (default: 1 s doubling to 30 s, 8 times). */
  orphanRelease?: Backoff & { attempts: number };
  /** Audits a lapsed claim that a takeover ends. Absent: takeovers are not audited (tests of the rules). */
  lapsed?: LapsedClaimAudit;
};

const DEFAULT_ORPHAN_RELEASE = { minMs: 1_000, maxMs: 30_000, attempts: 8 } as const;

const MAX_CLAIM_ATTEMPTS = 5;

const INFERENCE_ID_BYTES = 16;
// Drawn from OpenSSL 256 ids at a time, as randomUUID draws its own: one call per id cost 2–3 % of an
// instance's CPU under load.
const idEntropy = Buffer.allocUnsafeSlow(INFERENCE_ID_BYTES * 256);
let idEntropyUsed = idEntropy.length;

/** 128 random bits, base64url: `inf_` and 22 characters. */
export function newInferenceId(): string {
  if (idEntropyUsed === idEntropy.length) {
    randomFillSync(idEntropy);
    idEntropyUsed = 0;
  }
  const id = idEntropy.toString('base64url', idEntropyUsed, idEntropyUsed + INFERENCE_ID_BYTES);
  idEntropyUsed += INFERENCE_ID_BYTES;
  return `inf_${id}`;
}

/** Document ids never carry the raw key: a hash of tenant and key. */
export function ledgerRecordId(tenant: string, key: string): string {
  return createHash('sha256').update(tenant).update('\u0000').update(key).digest('hex');
}

export class IdempotencyLedger {
  private readonly now: () => Date;

  constructor(
    private readonly store: LedgerStore,
    private readonly settings: LedgerSettings,
  ) {
    this.now = dateClock(settings.clock);
  }

  /**
   * Claims `key` for `tenant`, or says how the caller must be answered instead: a replay of the stored
   * response, `RequestInProgressError` (409) or `IdempotencyKeyReusedError` (422). `requester` is kept with
   * the claim, for the audit event of a claim that lapses.
   */
  async claim(
    tenant: string,
    key: string,
    fingerprint: string,
    requester?: ClaimRequester,
  ): Promise<ClaimOutcome> {
    const recordId = ledgerRecordId(tenant, key);
    return this.guard(async () => {
      for (let attempt = 0; attempt < MAX_CLAIM_ATTEMPTS; attempt++) {
        const fresh = this.freshClaim(recordId, tenant, fingerprint, requester);
        // Most keys are new: try the conditional create first, and read only when the key is taken.
        const created = await this.orphanOnFailure(fresh, this.store.create(recordId, toRecord(fresh)));
        if (created) return { kind: 'claimed', claim: { ...fresh, ...created }, tookOver: false };
        const existing = await this.store.get(recordId);
        if (!existing) continue; // released or deleted between our create and our read: try again
        const decision = this.decide(existing.value, fingerprint);
        if (decision.kind !== 'take') return decision.outcome();
        // An unfinished record taken over lapsed: its abandonment is committed with the takeover.
        const { lapsed } = this.settings;
        const abandoned =
          lapsed && existing.value.state === 'in_progress' ? lapsed.seal(existing.value) : null;
        const replaced = await this.orphanOnFailure(
          fresh,
          this.store.replace(recordId, toRecord(fresh), existing.version, abandoned),
        );
        if (replaced) {
          if (abandoned) await lapsed?.committed(abandoned);
          return { kind: 'claimed', claim: { ...fresh, ...replaced }, tookOver: decision.tookOver };
        }
      }
      // Heavy contention on one key: every caller but the winner is told to come back.
      throw new RequestInProgressError(1);
    });
  }

  /** The completed record the holder writes, for stores that commit it together with other documents. */
  completedRecord(claim: Claim, response: StoredResponse): LedgerRecord {
    return {
      state: 'completed',
      tenant: claim.tenant,
      fingerprint: claim.fingerprint,
      ownerToken: claim.ownerToken,
      inferenceId: claim.inferenceId,
      createdAt: claim.createdAt,
      completedAt: this.now(),
      expiresAt: claim.expiresAt,
      response,
    };
  }

  /** Gives the key back after a failure, so a corrected or later retry runs anew. Owner-checked. */
  async release(claim: Claim): Promise<boolean> {
    return this.guard(() => this.store.deleteIfOwner(claim.recordId, claim.ownerToken));
  }

  /** Seconds a caller should wait before retrying a key held under `claim`'s lease. */
  retryAfterSeconds(leaseExpiresAt: Date): number {
    return Math.max(1, Math.ceil((leaseExpiresAt.getTime() - this.now().getTime()) / 1000));
  }

  private decide(
    record: LedgerRecord,
    fingerprint: string,
  ): { kind: 'take'; tookOver: boolean } | { kind: 'answer'; outcome: () => ClaimOutcome } {
    const now = this.now();
    if (record.expiresAt <= now) return { kind: 'take', tookOver: false };
    if (record.fingerprint !== fingerprint) {
      return {
        kind: 'answer',
        outcome: () => {
          throw new IdempotencyKeyReusedError();
        },
      };
    }
    if (record.state === 'completed') {
      const { response, inferenceId } = record;
      return { kind: 'answer', outcome: () => ({ kind: 'replay', response, inferenceId }) };
    }
    if (record.leaseExpiresAt > now) {
      const retryAfter = this.retryAfterSeconds(record.leaseExpiresAt);
      return {
        kind: 'answer',
        outcome: () => {
          throw new RequestInProgressError(retryAfter);
        },
      };
    }
    return { kind: 'take', tookOver: true };
  }

  private freshClaim(
    recordId: string,
    tenant: string,
    fingerprint: string,
    requester: ClaimRequester | undefined,
  ): Omit<Claim, 'version'> {
    const now = this.now();
    return {
      recordId,
      tenant,
      fingerprint,
      requester,
      // randomUUID draws from a buffer of entropy it refills every 128 calls; randomBytes asks OpenSSL each time.
      ownerToken: randomUUID(),
      inferenceId: newInferenceId(),
      createdAt: now,
      leaseExpiresAt: new Date(now.getTime() + this.settings.leaseMs),
      expiresAt: new Date(now.getTime() + this.settings.ttlMs),
    };
  }

  /**
   * A claim write that failed may still have applied (a deadline passed, the store answered late): nobody
   * holds that claim, but it would block the key until its lease runs out. It is released in the
   * background, owner-checked, once the store answers (a completed record is never touched).
   */
  private async orphanOnFailure<T>(claim: Omit<Claim, 'version'>, write: Promise<T>): Promise<T> {
    try {
      return await write;
    } catch (e) {
      void this.releaseOrphan(claim.recordId, claim.ownerToken);
      throw e;
    }
  }

  private async releaseOrphan(recordId: string, ownerToken: string): Promise<void> {
    const backoff = this.settings.orphanRelease ?? DEFAULT_ORPHAN_RELEASE;
    for (let attempt = 1; attempt <= backoff.attempts; attempt++) {
      await new Promise<void>((resolve) => setTimeout(resolve, backoffDelayMs(attempt, backoff)).unref());
      try {
        await this.store.deleteIfOwner(recordId, ownerToken);
        return;
      } catch {
        // still unavailable: try again later
      }
    }
  }

  /** Storage failures become one retryable error; the ledger's own errors pass through. */
  private guard<T>(op: () => Promise<T>): Promise<T> {
    return orUnavailable('idempotency ledger', op);
  }
}

function toRecord(claim: Omit<Claim, 'version'>): LedgerRecord {
  return {
    state: 'in_progress',
    tenant: claim.tenant,
    fingerprint: claim.fingerprint,
    ownerToken: claim.ownerToken,
    inferenceId: claim.inferenceId,
    createdAt: claim.createdAt,
    expiresAt: claim.expiresAt,
    leaseExpiresAt: claim.leaseExpiresAt,
    ...(claim.requester ? { requester: claim.requester } : {}),
  };
}
