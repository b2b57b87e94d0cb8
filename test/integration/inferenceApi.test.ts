import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { FirestoreInferenceStore } from '../../functions/src/adapters/firestore/firestoreInferenceStore.js';
import { FirestoreLedgerStore } from '../../functions/src/adapters/firestore/firestoreLedgerStore.js';
import { DEV_CHAIN_KEY, sealEvent } from '../../functions/src/core/audit/chain.js';
import { isGatewayError } from '../../functions/src/core/errors.js';
import { IdempotencyLedger, ledgerRecordId } from '../../functions/src/core/idempotency/ledger.js';
import { requestFingerprint } from '../../functions/src/http/inferenceApi.js';
import { draft } from '../support/auditEvents.js';
import {
  bearer,
  manualClock,
  medicationNote,
  uniqueTenant,
  useGatewayStack,
} from '../support/gatewayHarness.js';

const body = (text = medicationNote, extra: Record<string, unknown> = {}) => ({
  task: 'medication-extraction',
  input: { text },
  ...extra,
});

describe('inference API with the idempotency ledger (Firestore emulator, local model servers)', () => {
  let tenant: string;

  const post = (
    payload: unknown,
    key: string | null = randomUUID(),
    who = bearer(tenant, 'clinician', 'alice'),
  ) => {
    const req = gw.api
      .post('/v1/inferences')
      .set('Authorization', who)
      .set('Content-Type', 'application/json');
    if (key !== null) req.set('Idempotency-Key', key);
    return req.send(typeof payload === 'string' ? payload : JSON.stringify(payload));
  };

  const { models, gw } = useGatewayStack();
  beforeEach(() => {
    tenant = uniqueTenant();
  });

  it('answers 200 with a completed inference when the model is confident', async () => {
    const res = await post(body());
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'] ?? '', /^application\/json/);
    assert.equal(res.body.status, 'completed');
    assert.match(res.body.id, /^inf_/);
    assert.equal(res.body.task, 'medication-extraction');
    assert.equal(res.body.provider, 'local-a');
    assert.equal(res.body.review, null);
    assert.ok(res.body.confidence >= res.body.threshold);
    const names = res.body.output.medications.map((m: { name: string }) => m.name);
    assert.deepEqual(names.sort(), ['atorvastatin', 'lisinopril', 'metformin']);
    assert.ok(res.body.completedAt);
    assert.equal(res.headers['idempotent-replayed'], undefined);
  });

  it('answers 202 pending_review below the threshold, hiding the proposal', async () => {
    await models.a.setBehaviour({ confidence: 0.5 });
    const res = await post(body());
    assert.equal(res.status, 202);
    assert.equal(res.body.status, 'pending_review');
    assert.equal(res.body.output, null);
    assert.equal(res.body.confidence, 0.5);
    assert.equal(res.body.threshold, 0.8);
    assert.equal(res.headers.location, `/v1/inferences/${res.body.id}`);
    assert.ok(Number(res.headers['retry-after']) > 0);
    const got = await gw.api
      .get(res.headers.location)
      .set('Authorization', bearer(tenant, 'clinician', 'bob'));
    assert.equal(got.status, 200);
    assert.equal(got.body.status, 'pending_review');
    assert.equal(got.body.output, null);
  });

  it('replays the first answer for the same key and request, without calling a model again', async () => {
    const key = randomUUID();
    const first = await post(body(), key);
    const second = await post(body(), key);
    assert.equal(second.status, first.status);
    assert.equal(second.text, first.text);
    assert.equal(second.headers['idempotent-replayed'], 'true');
    assert.equal((await models.a.stats()).requests, 1);
  });

  it('treats a re-ordered but equal JSON body as the same request', async () => {
    const key = randomUUID();
    const first = await post(body(), key);
    const reordered = `{"input":{"text":${JSON.stringify(medicationNote)}},"task":"medication-extraction"}`;
    const second = await post(reordered, key);
    assert.equal(second.status, 200);
    assert.equal(second.body.id, first.body.id);
  });

  it('answers 422 for a different request under a used key', async () => {
    const key = randomUUID();
    assert.equal((await post(body(), key)).status, 200);
    const res = await post(body('Aspirin 81 mg daily.'), key);
    assert.equal(res.status, 422);
    assert.match(res.headers['content-type'] ?? '', /^application\/problem\+json/);
    assert.equal(res.body.status, 422);
    assert.equal((await models.a.stats()).requests, 1);
  });

  it('50 concurrent identical requests make exactly one model call and agree on one answer', async () => {
    await models.a.setBehaviour({ latencyMs: 200 });
    const key = randomUUID();
    const answers = await Promise.all(Array.from({ length: 50 }, () => post(body(), key)));
    assert.equal((await models.a.stats()).requests, 1);
    assert.equal((await models.b.stats()).requests, 0);
    const finished = answers.filter((r) => r.status !== 409);
    for (const r of answers.filter((r) => r.status === 409)) {
      assert.ok(Number(r.headers['retry-after']) >= 1, 'a 409 carries Retry-After');
      assert.match(r.headers['content-type'] ?? '', /^application\/problem\+json/);
    }
    assert.ok(finished.length >= 1);
    for (const r of finished) {
      assert.equal(r.status, 200);
      assert.equal(r.text, finished[0]!.text);
    }
    // Once the first has finished, every retry replays it.
    const retry = await post(body(), key);
    assert.equal(retry.status, 200);
    assert.equal(retry.body.id, finished[0]!.body.id);
  });

  it('scopes keys per tenant: the same key from two tenants runs two inferences', async () => {
    const key = randomUUID();
    const other = uniqueTenant();
    const mine = await post(body(), key);
    const theirs = await post(body(), key, bearer(other, 'clinician', 'carol'));
    assert.equal(mine.status, 200);
    assert.equal(theirs.status, 200);
    assert.notEqual(mine.body.id, theirs.body.id);
    assert.equal((await models.a.stats()).requests, 2);
    // And neither tenant can read the other's inference.
    const peek = await gw.api
      .get(`/v1/inferences/${theirs.body.id}`)
      .set('Authorization', bearer(tenant, 'clinician', 'alice'));
    assert.equal(peek.status, 404);
  });

  it('does not store the raw key in any document id', async () => {
    const key = `visible-key-${randomUUID()}`;
    await post(body(), key);
    const ids = (await gw.gateway.firestore.collection('idempotencyKeys').listDocuments()).map((d) => d.id);
    assert.ok(ids.length > 0);
    assert.ok(ids.every((id) => !id.includes(key) && /^[0-9a-f]{64}$/.test(id)));
  });

  it('503 when every provider fails, releasing the key so a later retry runs anew', async () => {
    await models.a.setBehaviour({ failRate: 1 });
    await models.b.setBehaviour({ failRate: 1 });
    const key = randomUUID();
    const failed = await post(body(), key);
    assert.equal(failed.status, 503);
    assert.ok(Number(failed.headers['retry-after']) >= 1);
    assert.match(failed.headers['content-type'] ?? '', /^application\/problem\+json/);
    assert.doesNotMatch(failed.text, /metformin|stack|Error:/);
    await models.a.reset();
    const retried = await post(body(), key);
    assert.equal(retried.status, 200);
    assert.equal(retried.headers['idempotent-replayed'], undefined);
  });

  it('falls back to local-b when local-a fails', async () => {
    await models.a.setBehaviour({ failRate: 1 });
    const res = await post(body());
    assert.equal(res.status, 200);
    assert.equal(res.body.provider, 'local-b');
  });
});

describe('idempotency leases and expiry (Firestore emulator, injected clock)', () => {
  const clock = manualClock();
  const tenant = uniqueTenant();

  const { gw } = useGatewayStack({
    env: { IDEMPOTENCY_LEASE_SECONDS: '30', IDEMPOTENCY_TTL_HOURS: '24' },
    overrides: {
      clock: clock.now,
    },
  });

  const post = (key: string) =>
    gw.api
      .post('/v1/inferences')
      .set('Authorization', bearer(tenant, 'clinician', 'alice'))
      .set('Content-Type', 'application/json')
      .set('Idempotency-Key', key)
      .send(body());

  it('takes over a dead holder after its lease, and refuses the stale holder’s late completion', async () => {
    const key = randomUUID();
    const ledger = new IdempotencyLedger(new FirestoreLedgerStore(gw.gateway.firestore), {
      ttlMs: 24 * 3_600_000,
      leaseMs: 30_000,
      clock: clock.now,
    });
    // A holder claims the key and dies before completing.
    const stale = await ledger.claim(tenant, key, requestFingerprint('POST', '/v1/inferences', body()));
    assert.equal(stale.kind, 'claimed');
    if (stale.kind !== 'claimed') return;

    const during = await post(key);
    assert.equal(during.status, 409);
    assert.ok(Number(during.headers['retry-after']) >= 1 && Number(during.headers['retry-after']) <= 30);

    clock.advance(31_000);
    const after = await post(key);
    assert.equal(after.status, 200);
    assert.notEqual(after.body.id, stale.claim.inferenceId);

    const store = new FirestoreInferenceStore(gw.gateway.firestore);
    await assert.rejects(
      store.commitCompletion({
        claim: stale.claim,
        ledgerRecord: ledger.completedRecord(stale.claim, { status: 200, body: '{"stale":true}' }),
        inference: { ...(await store.getInference(after.body.id))!, id: stale.claim.inferenceId },
        reviewRequest: null,
        auditEvent: sealEvent(draft({ inferenceId: stale.claim.inferenceId }), null, DEV_CHAIN_KEY),
      }),
      (e) => isGatewayError(e, 'lease_lost'),
    );
    assert.equal(await store.getInference(stale.claim.inferenceId), null);
    const replay = await post(key);
    assert.equal(replay.headers['idempotent-replayed'], 'true');
    assert.equal(replay.text, after.text);
  });

  it('never releases a completed claim, so a completion whose answer was lost still replays', async () => {
    const key = randomUUID();
    const fingerprint = requestFingerprint('POST', '/v1/inferences', body());
    const ledger = new IdempotencyLedger(new FirestoreLedgerStore(gw.gateway.firestore), {
      ttlMs: 24 * 3_600_000,
      leaseMs: 30_000,
      clock: clock.now,
    });
    const first = await post(key);
    assert.equal(first.status, 200);
    const claimed = await ledger.claim(tenant, key, fingerprint);
    assert.equal(claimed.kind, 'replay');
    // The holder that committed, had its answer lost and now tries to give the key back, is refused.
    const snap = await gw.gateway.firestore
      .collection('idempotencyKeys')
      .doc(ledgerRecordId(tenant, key))
      .get();
    const owner = String(snap.get('ownerToken'));
    assert.equal(await new FirestoreLedgerStore(gw.gateway.firestore).deleteIfOwner(snap.id, owner), false);
    const replay = await post(key);
    assert.equal(replay.headers['idempotent-replayed'], 'true');
    assert.equal(replay.text, first.text);
  });

  it('keeps a key for its TTL and lets it be reused once expired (enforced in code, before TTL deletion)', async () => {
    const key = randomUUID();
    const first = await post(key);
    clock.advance(23 * 3_600_000);
    assert.equal((await post(key)).headers['idempotent-replayed'], 'true');
    clock.advance(2 * 3_600_000);
    const fresh = await post(key);
    assert.equal(fresh.status, 200);
    assert.equal(fresh.headers['idempotent-replayed'], undefined);
    assert.notEqual(fresh.body.id, first.body.id);
    const snap = await gw.gateway.firestore.collection('idempotencyKeys').listDocuments();
    const docs = await Promise.all(snap.map((d) => d.get()));
    const expiresAt = docs.map((d) => d.get('expiresAt')).filter(Boolean);
    assert.ok(expiresAt.length > 0, 'ledger documents carry expiresAt for the TTL policy');
  });
});
