import assert from 'node:assert/strict';
import { AuditTrail } from '../../functions/src/core/audit/auditTrail.js';
import { DEV_CHAIN_KEY } from '../../functions/src/core/audit/chain.js';
import { verifyChains } from '../../functions/src/core/audit/chainVerifier.js';
import { type AuditEvent, auditEventSchema } from '../../functions/src/core/audit/events.js';
import { isGatewayError } from '../../functions/src/core/errors.js';
import { auditLapsedClaims, LapsedClaimSweep } from '../../functions/src/core/idempotency/lapsedClaims.js';
import {
  type Claim,
  type ClaimOutcome,
  type ClaimRequester,
  IdempotencyLedger,
} from '../../functions/src/core/idempotency/ledger.js';
import { chain, devChainKeys, draft } from '../support/auditEvents.js';
import { completeClaim, MemoryDatabase } from '../support/memoryStores.js';

/**
 * Claims that lapse (core/idempotency/lapsedClaims.ts): a holder that never finished leaves an audit event,
 * committed (as a pending copy) in the write that ends its claim, whether a retry takes the key over or the
 * sweep ends it. Over the in-memory stores, with a clock the test moves.
 */

const LEASE_MS = 30_000;
const GRACE_MS = 60_000;
const t0 = new Date('2026-12-01T09:00:00.000Z');
const requester: ClaimRequester = {
  subject: 'alice',
  task: 'medication-extraction',
  patientRef: 'pat-1',
  encounterRef: 'enc-1',
  trace: 'trace-1',
};

function setUp() {
  let now = t0.getTime();
  const clock = () => now;
  const db = new MemoryDatabase();
  const { ledger: store, inferences, pending } = db.stores();
  const emitted: AuditEvent[] = [];
  const released: string[] = [];
  const trail = new AuditTrail({
    sink: { write: async (e) => void emitted.push(e) },
    key: DEV_CHAIN_KEY,
    heads: { readHead: async () => null },
    warn: () => undefined,
    pending: { release: (id) => released.push(id) },
  });
  const audit = auditLapsedClaims(trail, { gatewayVersion: 'test', clock });
  const ledger = new IdempotencyLedger(store, {
    ttlMs: 24 * 3_600_000,
    leaseMs: LEASE_MS,
    clock,
    lapsed: audit,
  });
  const sweep = new LapsedClaimSweep({ store, audit, clock });
  return {
    db,
    ledger,
    emitted,
    released,
    pending,
    sweep: () => sweep.sweep({ graceMs: GRACE_MS, limit: 100 }),
    advance: (ms: number) => {
      now += ms;
    },
    complete: (claim: Claim) => completeClaim(ledger, inferences, claim),
  };
}

const claimed = (outcome: ClaimOutcome): Claim & { tookOver: boolean } => {
  assert.equal(outcome.kind, 'claimed');
  return { ...outcome.claim, tookOver: outcome.tookOver };
};

/** What an auditor reads of an abandonment event. */
const summary = (e: AuditEvent) => ({
  eventType: e.eventType,
  inferenceId: e.inferenceId,
  sequence: e.sequence,
  actor: e.actor,
  task: e.task,
  patientRef: e.patientRef,
  encounterRef: e.encounterRef,
  trace: e.trace,
  failureReason: e.decision?.failureReason,
  routing: e.decision?.routing,
});

const abandonedOf = (claim: Claim) => ({
  eventType: 'inference.failed',
  inferenceId: claim.inferenceId,
  sequence: null,
  actor: { subject: 'alice', tenant: 'acme', role: 'clinician' },
  task: 'medication-extraction',
  patientRef: 'pat-1',
  encounterRef: 'enc-1',
  trace: 'trace-1',
  failureReason: 'abandoned',
  routing: null,
});

describe('lapsed idempotency claims are audited by the write that ends them', () => {
  it('a retry that takes a lapsed claim over commits the abandonment with the takeover, then emits it', async () => {
    const { ledger, emitted, released, db, advance } = setUp();
    const first = claimed(await ledger.claim('acme', 'k1', 'fp', requester));
    advance(LEASE_MS + 1);
    const second = claimed(await ledger.claim('acme', 'k1', 'fp', requester));
    assert.equal(second.tookOver, true);
    assert.deepEqual(emitted.map(summary), [abandonedOf(first)]);
    const event = emitted[0]!;
    assert.ok(auditEventSchema.safeParse(event).success);
    assert.ok(db.auditPending.has(event.eventId), 'its pending copy was committed with the takeover');
    assert.deepEqual(released, [event.eventId], 'and is let go once the sink has the event');
    const report = await verifyChains(
      [{ ok: true, event: JSON.parse(JSON.stringify(event)), origin: 'line 1' }],
      devChainKeys,
    );
    assert.equal(report.standalone, 1, 'stands alone: a failure the holder records itself cannot fork it');
    assert.deepEqual(report.problems, []);
  });

  it('the holder of a lapsed claim can no longer complete once it is ended', async () => {
    const { ledger, advance, complete, sweep } = setUp();
    const taken = claimed(await ledger.claim('acme', 'k1', 'fp', requester));
    advance(LEASE_MS + 1);
    await complete(claimed(await ledger.claim('acme', 'k1', 'fp', requester)));
    await assert.rejects(complete(taken), (e) => isGatewayError(e, 'lease_lost'));

    const swept = claimed(await ledger.claim('acme', 'k2', 'fp', requester));
    advance(LEASE_MS + GRACE_MS + 1);
    assert.deepEqual(await sweep(), { abandoned: 1 });
    await assert.rejects(complete(swept), (e) => isGatewayError(e, 'lease_lost'));
  });

  it('the sweep ends a claim nobody retried, once past its lease and the grace, with its event, once', async () => {
    const { ledger, emitted, db, advance, sweep } = setUp();
    const claim = claimed(await ledger.claim('acme', 'k1', 'fp', requester));
    advance(LEASE_MS + GRACE_MS - 1);
    assert.deepEqual(await sweep(), { abandoned: 0 }, 'within the grace a retry of its own may still come');
    advance(2);
    assert.deepEqual(await sweep(), { abandoned: 1 });
    assert.deepEqual(emitted.map(summary), [abandonedOf(claim)]);
    assert.equal(db.ledger.size, 0, 'the record is gone: a later retry runs anew');
    assert.deepEqual(await sweep(), { abandoned: 0 }, 'ended once');
    assert.equal(claimed(await ledger.claim('acme', 'k1', 'fp', requester)).tookOver, false);
    assert.equal(emitted.length, 1);
  });

  it('finished, released and live claims are never touched, and a takeover of an expired answer audits nothing', async () => {
    const { ledger, emitted, db, advance, complete, sweep } = setUp();
    await complete(claimed(await ledger.claim('acme', 'done', 'fp', requester)));
    await ledger.release(claimed(await ledger.claim('acme', 'released', 'fp', requester)));
    advance(LEASE_MS + GRACE_MS + 1);
    claimed(await ledger.claim('acme', 'live', 'fp', requester));
    assert.deepEqual(await sweep(), { abandoned: 0 });
    assert.deepEqual([...db.ledger.values()].map((d) => d.value.state).sort(), ['completed', 'in_progress']);
    advance(25 * 3_600_000); // past the TTL: the completed record is replaced, not audited
    claimed(await ledger.claim('acme', 'done', 'fp', requester));
    assert.deepEqual(
      emitted.map((e) => e.decision?.failureReason),
      [],
    );
  });

  it('a record that changes between the sweep reading it and ending it is left to whoever changed it', async () => {
    const { db, emitted, advance, ledger, complete } = setUp();
    const claim = claimed(await ledger.claim('acme', 'k1', 'fp', requester));
    advance(LEASE_MS + GRACE_MS + 1);
    const { ledger: store } = db.stores();
    const racing = new LapsedClaimSweep({
      store: {
        listLapsed: async (before, limit) => {
          const found = await store.listLapsed(before, limit);
          await complete(claim); // the holder's completion lands after the read
          return found;
        },
        endLapsed: (id, version, event) => store.endLapsed(id, version, event),
      },
      audit: { seal: () => sealed, committed: async (e) => void emitted.push(e) },
    });
    const sealed = chain(draft())[0]!;
    assert.deepEqual(await racing.sweep({ graceMs: GRACE_MS, limit: 10 }), { abandoned: 0 });
    assert.equal(emitted.length, 0);
    assert.ok(!db.auditPending.has(sealed.eventId), 'no pending copy without the write that ends the claim');
    assert.equal([...db.ledger.values()][0]?.value.state, 'completed');
  });
});
