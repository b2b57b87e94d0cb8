import { createHmac } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { AuditEvent } from './events.js';

/**
 * Tamper evidence without a global bottleneck: the events of one inference form a hash chain. Each event
 * carries its sequence number, the previous event's hash and its own hash: an HMAC-SHA-256 over its
 * canonical JSON (RFC 8785) under the chain key named by its `chainKeyId`. The key lives in Secret Manager
 * (never in the audit dataset), so whoever can rewrite audit rows cannot recompute a hash that verifies;
 * key ids let keys rotate while every older event still verifies under the key it was sealed with.
 */

export type ChainHead = {
  sequence: number;
  hash: string;
  /** The newest event's id: how an ambiguous commit is resolved (see auditTrail.ts). */
  eventId?: string;
};
export type AuditDraft = Omit<AuditEvent, 'sequence' | 'prevHash' | 'hash' | 'chainKeyId'>;
export type ChainKey = { id: string; secret: string };

/**
 * The chain key of local runs (`npm start`, tests). It is public, so it proves nothing: configuration
 * refuses it wherever the gateway runs on Google Cloud.
 */
export const DEV_CHAIN_KEY: ChainKey = { id: 'dev', secret: 'local-dev-audit-chain-key-not-secret' };

export function hashEvent(event: Omit<AuditEvent, 'hash'>, secret: string): string {
  return createHmac('sha256', secret)
    .update(canonicalize(event) ?? '')
    .digest('hex');
}

/** Appends `draft` to the chain whose head is `head` (null: first event of the inference). */
export function sealEvent(draft: AuditDraft, head: ChainHead | null, key: ChainKey): AuditEvent {
  const unsealed = {
    ...draft,
    chainKeyId: key.id,
    sequence: (head?.sequence ?? 0) + 1,
    prevHash: head?.hash ?? null,
  };
  return { ...unsealed, hash: hashEvent(unsealed, key.secret) };
}

/** Events not about one inference's state (reads, replays, breaker transitions) stand alone. */
export function sealStandalone(draft: AuditDraft, key: ChainKey): AuditEvent {
  const unsealed = { ...draft, chainKeyId: key.id, sequence: null, prevHash: null };
  return { ...unsealed, hash: hashEvent(unsealed, key.secret) };
}

export const headOf = (event: AuditEvent): ChainHead => ({
  sequence: event.sequence ?? 0,
  hash: event.hash,
  eventId: event.eventId,
});

/** Keyed hash of clinical text: provable with the key, not reversible by guessing short notes. */
export function hmacHex(key: string, ...parts: string[]): string {
  const mac = createHmac('sha256', key);
  for (const part of parts) mac.update(part).update('\u0000');
  return mac.digest('hex');
}
