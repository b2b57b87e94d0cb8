import { createHash, createHmac } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { AuditEvent } from './events.js';

/**
 * Tamper evidence without a global bottleneck: the events of one inference form a hash chain. Each event
 * carries its sequence number, the previous event's hash and its own hash over its canonical JSON (RFC 8785).
 */

export type ChainHead = { sequence: number; hash: string };
export type AuditDraft = Omit<AuditEvent, 'sequence' | 'prevHash' | 'hash'>;

export function hashEvent(event: Omit<AuditEvent, 'hash'>): string {
  return createHash('sha256')
    .update(canonicalize(event) ?? '')
    .digest('hex');
}

/** Appends `draft` to the chain whose head is `head` (null: first event of the inference). */
export function sealEvent(draft: AuditDraft, head: ChainHead | null): AuditEvent {
  const unsealed = { ...draft, sequence: (head?.sequence ?? 0) + 1, prevHash: head?.hash ?? null };
  return { ...unsealed, hash: hashEvent(unsealed) };
}

/** Events not about one inference (breaker transitions) stand alone: no sequence, no predecessor. */
export function sealStandalone(draft: AuditDraft): AuditEvent {
  const unsealed = { ...draft, sequence: null, prevHash: null };
  return { ...unsealed, hash: hashEvent(unsealed) };
}

export const headOf = (event: AuditEvent): ChainHead => ({ sequence: event.sequence ?? 0, hash: event.hash });

/** Keyed hash of clinical text: provable with the key, not reversible by guessing short notes. */
export function hmacHex(key: string, ...parts: string[]): string {
  const mac = createHmac('sha256', key);
  for (const part of parts) mac.update(part).update('\u0000');
  return mac.digest('hex');
}
