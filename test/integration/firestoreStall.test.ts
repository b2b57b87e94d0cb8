import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Firestore } from '@google-cloud/firestore';
import {
  bearer,
  medicationNote,
  startTestGateway,
  type TestGateway,
  testConfig,
  uniqueTenant,
  useModelServers,
} from '../support/gatewayHarness.js';
import { firestoreVia, type StallableProxy, startStallableProxy } from '../support/stallableProxy.js';

/**
 * A stalled Firestore (the emulator behind a proxy that stops forwarding, as SIGSTOP would) on the request
 * path: the gateway answers 503 + Retry-After after its own deadline instead of the SDK's 60 s, and after
 * recovery the same key gets exactly one answer, with no second model call.
 */
describe('a stalled Firestore on the request path (Firestore emulator behind a stalling proxy)', function () {
  // Without a deadline of our own the SDK waits 60 s: these tests would time out.
  this.timeout(20_000);

  const models = useModelServers();
  let proxy: StallableProxy;
  let firestore: Firestore;
  let gw: TestGateway;
  let tenant: string;

  const post = (key: string) =>
    gw.api
      .post('/v1/inferences')
      .set('Authorization', bearer(tenant, 'clinician', 'alice'))
      .set('Content-Type', 'application/json')
      .set('Idempotency-Key', key)
      .send({ task: 'medication-extraction', input: { text: medicationNote } });

  before(async () => {
    proxy = await startStallableProxy(process.env.FIRESTORE_EMULATOR_HOST!);
    const config = testConfig(models, { FIRESTORE_DEADLINE_MS: '500' });
    firestore = firestoreVia(proxy.host, config.project);
    gw = startTestGateway(config, { firestore });
  });
  after(async () => {
    proxy.resume();
    await gw.close();
    await firestore.terminate();
    await proxy.close();
  });
  beforeEach(async () => {
    tenant = uniqueTenant();
    proxy.resume();
    // Warm: the client's channel is open before the stall (opening it may take longer than the deadline).
    assert.equal((await retryUntilAnswered(() => post(randomUUID()))).status, 200);
    await models.a.reset();
  });

  it('answers 503 problem+json with Retry-After when the claim stalls, and runs the key once after recovery', async () => {
    const key = randomUUID();
    proxy.stall();
    const stalled = await post(key);
    assert.equal(stalled.status, 503);
    assert.match(stalled.headers['content-type'] ?? '', /^application\/problem\+json/);
    assert.ok(Number(stalled.headers['retry-after']) >= 1);
    assert.doesNotMatch(stalled.text, /metformin/i);
    proxy.resume();

    // The abandoned create may land after the deadline: the key is then held until its lease runs out,
    // which a client honouring Retry-After sees as 409. Either way the key gets one answer in the end.
    const answer = await retryUntilAnswered(() => post(key));
    assert.equal(answer.status, 200);
    const replay = await post(key);
    assert.equal(replay.headers['idempotent-replayed'], 'true');
    assert.equal(replay.body.id, answer.body.id);
    assert.equal((await models.a.stats()).requests, 1);
  });

  it('answers 503 when the completion stalls; the late commit is replayed and its audit event emitted', async () => {
    await models.a.setBehaviour({ latencyMs: 1_000 });
    const key = randomUUID();
    const pending = post(key).then((res) => res);
    // Stall once the model has the request: the claim is written, the completion is not.
    while ((await models.a.stats()).requests === 0) await sleep(20);
    proxy.stall();
    const stalled = await pending;
    assert.equal(stalled.status, 503);
    assert.ok(Number(stalled.headers['retry-after']) >= 1);
    proxy.resume();

    const answer = await retryUntilAnswered(() => post(key));
    assert.equal(answer.status, 200);
    assert.equal((await models.a.stats()).requests, 1, 'the late commit is replayed, not run again');
    // The audited commit could not read the chain head back during the stall; it reads it again later and
    // emits the event of the commit that landed.
    const completed = () =>
      gw.logLines.some((line) => line.includes(answer.body.id) && line.includes('"inference.completed"'));
    for (let i = 0; i < 100 && !completed(); i++) await sleep(50);
    assert.ok(completed(), 'the completion event of the late commit is emitted');
    // …and no failure of the same inference: its chain records one outcome, never both.
    assert.ok(
      !gw.logLines.some((line) => line.includes(answer.body.id) && line.includes('"inference.failed"')),
      'no failure event for a commit that landed',
    );
  });

  it('answers 503 on a read when Firestore stalls (GET /v1/inferences/{id})', async () => {
    const created = await post(randomUUID());
    proxy.stall();
    const res = await gw.api
      .get(`/v1/inferences/${created.body.id}`)
      .set('Authorization', bearer(tenant, 'clinician', 'alice'));
    assert.equal(res.status, 503);
    assert.ok(Number(res.headers['retry-after']) >= 1);
  });
});

/** A client that honours Retry-After on 409 and 503, as the contract asks (bounded). */
async function retryUntilAnswered(send: () => Promise<{ status: number; headers: Record<string, string> }>) {
  for (let attempt = 0; ; attempt++) {
    const res = await send();
    if ((res.status !== 409 && res.status !== 503) || attempt >= 40)
      return res as Awaited<ReturnType<typeof send>> & { body: { id: string } };
    await sleep(Math.min(Number(res.headers['retry-after'] ?? 1), 1) * 1000);
  }
}
