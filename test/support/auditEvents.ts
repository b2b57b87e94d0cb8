import { randomUUID } from 'node:crypto';
import {
  type AuditDraft,
  DEV_CHAIN_KEY,
  headOf,
  sealEvent,
  sealStandalone,
} from '../../functions/src/core/audit/chain.js';
import { AUDIT_SCHEMA_VERSION, type AuditEvent } from '../../functions/src/core/audit/events.js';

/** Audit events built the way the gateway builds them (real sealing), for tests of what reads them back. */

/** The chain keys a verifier needs for events sealed by local runs and by these helpers. */
export const devChainKeys: ReadonlyMap<string, string> = new Map([[DEV_CHAIN_KEY.id, DEV_CHAIN_KEY.secret]]);

const decision = (
  over: Partial<NonNullable<AuditEvent['decision']>> = {},
): NonNullable<AuditEvent['decision']> => ({
  status: 'completed',
  httpStatus: 200,
  provider: 'local-a',
  model: 'local-clinical-1',
  modelVersion: 'local-clinical-1',
  routing: { attempts: [], fallbackTaken: false },
  promptTemplateVersion: 'v1',
  promptHash: 'ab'.repeat(32),
  response: { medications: [{ name: 'metformin', dose: '500 mg', route: 'oral', frequency: 'twice daily' }] },
  confidence: 0.93,
  threshold: 0.8,
  scorerVersion: 'geomean-logprob-v1',
  scoreBasis: 'logprobs',
  sampledForReview: false,
  failureReason: null,
  latencyMs: { total: 12, provider: 9 },
  ...over,
});

export function draft(over: Partial<AuditDraft> & { at?: string } = {}): AuditDraft {
  const { at, ...rest } = over;
  return {
    schemaVersion: AUDIT_SCHEMA_VERSION,
    eventId: randomUUID(),
    eventType: 'inference.completed',
    timestamp: at ?? '2026-11-27T09:00:00.000Z',
    tenant: 'acme',
    actor: { subject: 'alice', tenant: 'acme', role: 'clinician' },
    inferenceId: 'inf_test',
    patientRef: 'patient-1',
    encounterRef: null,
    gatewayVersion: '0.1.0',
    trace: null,
    task: 'medication-extraction',
    decision: decision(),
    review: null,
    breaker: null,
    ...rest,
  };
}

export const decisionWith = decision;

export function reviewDraft(
  inferenceId: string,
  action: NonNullable<AuditEvent['review']>['action'],
  over: Partial<AuditDraft> & { at?: string; reasonCode?: string | null } = {},
): AuditDraft {
  const { reasonCode, ...rest } = over;
  const eventType =
    action === 'enqueued'
      ? 'review.enqueued'
      : action === 'claimed'
        ? 'review.claimed'
        : action === 'escalated'
          ? 'review.escalated'
          : 'review.decided';
  return draft({
    eventType,
    inferenceId,
    actor: { subject: 'bob', tenant: 'acme', role: 'reviewer' },
    decision: null,
    review: {
      reviewId: `rev_${inferenceId}`,
      reviewer: 'bob',
      action,
      reasonCode: reasonCode ?? (action === 'edit' || action === 'reject' ? 'incomplete' : null),
      editHash: action === 'edit' ? 'cd'.repeat(32) : null,
      dueAt: null,
    },
    ...rest,
  });
}

/** Seals drafts one after the other onto one chain, as the gateway does across requests. */
export function chain(...drafts: AuditDraft[]): AuditEvent[] {
  const events: AuditEvent[] = [];
  for (const d of drafts)
    events.push(sealEvent(d, events.length === 0 ? null : headOf(events[events.length - 1]!), DEV_CHAIN_KEY));
  return events;
}

export function breakerEvent(at = '2026-11-27T09:00:00.000Z'): AuditEvent {
  return sealStandalone(
    draft({
      eventType: 'breaker.opened',
      at,
      tenant: 'system',
      actor: { subject: 'gateway', tenant: 'system', role: 'system' },
      inferenceId: null,
      patientRef: undefined,
      encounterRef: undefined,
      task: null,
      decision: null,
      breaker: {
        provider: 'local-a',
        from: 'closed',
        to: 'open',
        windowRequests: 40,
        windowFailures: 10,
        errorRate: 0.25,
      },
    }),
    DEV_CHAIN_KEY,
  );
}
