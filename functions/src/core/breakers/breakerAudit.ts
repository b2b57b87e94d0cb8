import { randomUUID } from 'node:crypto';
import { type ChainKey, sealStandalone } from '../audit/chain.js';
import { AUDIT_SCHEMA_VERSION, type AuditEvent, type AuditEventType } from '../audit/events.js';
import type { BreakerStateKind } from './breakerState.js';
import type { Transition } from './transitions.js';

const eventTypeFor: Record<BreakerStateKind, AuditEventType> = {
  open: 'breaker.opened',
  half_open: 'breaker.half_opened',
  closed: 'breaker.closed',
};

/** The audit event of one shared breaker transition: a system event, about no tenant and no inference. */
export function breakerAuditEvent(
  transition: Transition,
  gatewayVersion: string,
  chainKey: ChainKey,
): AuditEvent {
  const { figures } = transition.record;
  return sealStandalone(
    {
      schemaVersion: AUDIT_SCHEMA_VERSION,
      eventId: randomUUID(),
      eventType: eventTypeFor[transition.to],
      timestamp: new Date(transition.record.changedAt).toISOString(),
      tenant: 'system',
      actor: { subject: 'gateway', tenant: 'system', role: 'system' },
      inferenceId: null,
      gatewayVersion,
      trace: null,
      task: null,
      decision: null,
      review: null,
      breaker: {
        provider: transition.provider,
        from: transition.from,
        to: transition.to,
        windowRequests: figures.requests,
        windowFailures: figures.failures,
        errorRate: figures.errorRate,
      },
    },
    chainKey,
  );
}
