import assert from 'node:assert/strict';
import { DEV_CHAIN_KEY } from '../../functions/src/core/audit/chain.js';
import { auditEventSchema } from '../../functions/src/core/audit/events.js';
import { breakerAuditEvent } from '../../functions/src/core/breakers/breakerAudit.js';
import {
  type BreakerRecord,
  type BreakerSettings,
  effectiveState,
  initialRecord,
} from '../../functions/src/core/breakers/breakerState.js';
import {
  decideOpen,
  decideProbeAdmission,
  decideProbeResult,
  PROBES_OUT_RETRY_MS,
} from '../../functions/src/core/breakers/transitions.js';

const settings: BreakerSettings = {
  windowMs: 60_000,
  bucketMs: 10_000,
  errorRate: 0.05,
  minFailures: 5,
  minWindowMs: 10_000,
  slowCallMs: 1_000,
  largeInputChars: 20_000,
  openMs: 30_000,
  halfOpenProbes: 2,
  probeLeaseMs: 40_000,
};
const T0 = 1_800_000_000_000;
const window = { requests: 40, failures: 4, errorRate: 0.1 };

const opened = (): BreakerRecord => decideOpen('p', null, 0, window, T0).result.record;

describe('breaker transitions (pure)', () => {
  it('opens a closed breaker of the generation that was judged, and no other', () => {
    const first = decideOpen('p', null, 0, window, T0);
    assert.deepEqual(first.write, {
      state: { kind: 'open', openedAt: T0 },
      generation: 1,
      figures: window,
      changedAt: T0,
    });
    assert.deepEqual(first.result.transition && [first.result.transition.from, first.result.transition.to], [
      'closed',
      'open',
    ]);
    // A second instance that judged the same (now superseded) window changes nothing.
    const second = decideOpen('p', first.write, 0, window, T0 + 5);
    assert.equal(second.write, null);
    assert.equal(second.result.transition, null);
    assert.equal(second.result.record, first.write);
  });

  it('keeps an open breaker shut until the open interval has passed, saying how long is left', () => {
    const d = decideProbeAdmission('p', opened(), T0 + 10_000, settings);
    assert.equal(d.write, null);
    assert.deepEqual(d.result.admission, { granted: false, retryAfterMs: 20_000 });
  });

  it('half-opens on the first caller after the interval, then hands out the remaining permits only', () => {
    const due = T0 + settings.openMs;
    const first = decideProbeAdmission('p', opened(), due, settings);
    assert.equal(first.result.transition?.to, 'half_open');
    assert.deepEqual(first.result.admission, { granted: true, generation: 2 });
    assert.deepEqual(first.write?.state, {
      kind: 'half_open',
      openedAt: T0,
      halfOpenedAt: due,
      permitsLeft: 1,
      successes: 0,
    });
    const second = decideProbeAdmission('p', first.write, due + 1, settings);
    assert.equal(second.result.transition, null);
    assert.deepEqual(second.result.admission, { granted: true, generation: 2 });
    const third = decideProbeAdmission('p', second.write, due + 2, settings);
    assert.equal(third.write, null);
    assert.deepEqual(third.result.admission, { granted: false, retryAfterMs: PROBES_OUT_RETRY_MS });
  });

  it('closes only when every probe succeeded, into a new generation with an empty window', () => {
    const due = T0 + settings.openMs;
    const half = decideProbeAdmission('p', opened(), due, settings).write!;
    const one = decideProbeResult('p', half, 2, 'success', due + 10, settings);
    assert.equal(one.result.transition, null);
    const two = decideProbeResult('p', one.write, 2, 'success', due + 20, settings);
    assert.equal(two.result.transition?.to, 'closed');
    assert.deepEqual(two.write, {
      state: { kind: 'closed' },
      generation: 3,
      figures: { requests: 2, failures: 0, errorRate: 0 },
      changedAt: due + 20,
    });
  });

  it('re-opens on a failed probe and ignores results of an older cycle', () => {
    const due = T0 + settings.openMs;
    const half = decideProbeAdmission('p', opened(), due, settings).write!;
    const failed = decideProbeResult('p', half, 2, 'failure', due + 10, settings);
    assert.equal(failed.result.transition?.to, 'open');
    assert.deepEqual(failed.write?.state, { kind: 'open', openedAt: due + 10 });
    assert.equal(failed.write?.generation, 3);

    const stale = decideProbeResult('p', half, 1, 'success', due + 10, settings);
    assert.equal(stale.write, null);
  });

  it('reads a half-open breaker past its probe lease as open, and probes it afresh', () => {
    const due = T0 + settings.openMs;
    const half = decideProbeAdmission('p', opened(), due, settings).write!;
    assert.equal(effectiveState(half, due + settings.probeLeaseMs - 1, settings).kind, 'half_open');
    assert.deepEqual(effectiveState(half, due + settings.probeLeaseMs, settings), {
      kind: 'open',
      openedAt: T0,
    });
    // A late probe result for the abandoned cycle is ignored...
    assert.equal(
      decideProbeResult('p', half, 2, 'success', due + settings.probeLeaseMs, settings).write,
      null,
    );
    // ...and the next caller starts a new cycle with fresh permits.
    const renewed = decideProbeAdmission('p', half, due + settings.probeLeaseMs, settings);
    assert.deepEqual(renewed.result.admission, { granted: true, generation: 3 });
    assert.equal(renewed.result.transition?.from, 'half_open');
    assert.equal(renewed.result.transition?.to, 'half_open');
  });

  it('admits a caller that finds the breaker closed as an ordinary call', () => {
    const d = decideProbeAdmission('p', initialRecord, T0, settings);
    assert.equal(d.write, null);
    assert.deepEqual(d.result.admission, { granted: 'closed' });
  });

  it('describes a transition as a valid standalone audit event of the system', () => {
    const { transition } = decideOpen('local-a', null, 0, window, T0).result;
    const event = breakerAuditEvent(transition!, '9.9.9', DEV_CHAIN_KEY);
    assert.doesNotThrow(() => auditEventSchema.parse(event));
    assert.equal(event.eventType, 'breaker.opened');
    assert.equal(event.tenant, 'system');
    assert.deepEqual(event.actor, { subject: 'gateway', tenant: 'system', role: 'system' });
    assert.equal(event.inferenceId, null);
    assert.equal(event.sequence, null);
    assert.equal(event.timestamp, new Date(T0).toISOString());
    assert.deepEqual(event.breaker, {
      provider: 'local-a',
      from: 'closed',
      to: 'open',
      windowRequests: 40,
      windowFailures: 4,
      errorRate: 0.1,
    });
  });
});
