import assert from 'node:assert/strict';
import { type RunningEmulator, startPubsubEmulator } from '../../functions/dev/emulators.js';
import { startModelServers, uniqueTenant } from '../support/gatewayHarness.js';
import { type ReviewHarness, reviewerOf, startReviewHarness, submit } from '../support/reviewHarness.js';

type Models = Awaited<ReturnType<typeof startModelServers>>;

/**
 * The outbox at work: this test has a Pub/Sub emulator of its own, so that it can stall it (SIGSTOP of the
 * process group this test started, by its id) while low-confidence requests arrive, and let it go again.
 * A stall keeps the topics and subscriptions, as Pub/Sub's own outages do; a restarted emulator would come
 * back empty, and whatever the relay published before the test recreated the subscriptions would be lost
 * for a reason production does not have.
 */
describe('review outbox: Pub/Sub down while low-confidence requests arrive (own Pub/Sub emulator)', () => {
  let models: Models;
  let h: ReviewHarness;
  let emulator: RunningEmulator;
  const tenant = uniqueTenant();
  const projectId = () => process.env.GOOGLE_CLOUD_PROJECT ?? 'demo-clinical-gateway-test';

  before(async function () {
    this.timeout(120_000);
    emulator = await startPubsubEmulator({ port: 0, projectId: projectId() });
    models = await startModelServers();
    await models.a.setBehaviour({ confidence: 0.45 });
    h = await startReviewHarness({
      models,
      pubsubHost: emulator.host,
      // A short wait for Pub/Sub keeps the test quick; entries of any age are swept.
      env: { REVIEW_PUBLISH_TIMEOUT_MS: '300', REVIEW_OUTBOX_MIN_AGE_SECONDS: '0' },
    });
  });
  after(async function () {
    this.timeout(60_000);
    await h?.close();
    await models?.close();
    await emulator?.stop();
  });

  const sweep = () => h.jobs.post('/jobs/sweep-review-outbox').set('Authorization', h.serviceToken());

  it('every request is answered 202 and, once Pub/Sub is back, every item reaches the queue', async function () {
    this.timeout(180_000);
    process.kill(-emulator.pid, 'SIGSTOP');
    let stalled = true;
    const resume = () => {
      if (stalled) process.kill(-emulator.pid, 'SIGCONT');
      stalled = false;
    };
    try {
      const answers = [];
      for (let i = 0; i < 8; i++) answers.push(await submit(h, tenant));
      assert.deepEqual(
        answers.map((a) => a.status),
        Array(8).fill(202),
        'the caller never waits on, or fails with, Pub/Sub',
      );
      const ids = answers.map((a) => a.body.id as string);
      const outbox = await Promise.all(ids.map((id) => h.firestore.collection('reviewOutbox').doc(id).get()));
      assert.ok(outbox.every((entry) => entry.exists && entry.get('published') === false));
      assert.ok(outbox.every((entry) => entry.get('attempts') >= 1));

      // A sweep while Pub/Sub is still down loses nothing, and says so.
      const failed = await sweep();
      assert.equal(failed.status, 503);
      assert.ok(Number(failed.headers['retry-after']) > 0);

      resume();
      // Pub/Sub answers again, through the client the gateway publishes with. A publish still caught in the
      // stall may time out once more: that sweep answers 503 as above (losing nothing), and the next delivers.
      await h.pubsub.topic(h.topology.requestsTopic).exists();

      // The publisher circuit's own recovery sweeps may have delivered some entries already: this sweep
      // delivers the rest, and what counts is that every item reaches the queue and every entry is marked.
      let swept = await sweep();
      while (swept.status === 503) swept = await sweep();
      assert.equal(swept.status, 200);
      assert.equal(swept.body.failed, 0);
      await Promise.all(ids.map((id) => h.takenIn(id)));

      const queue = await h.reviewer.get('/v1/reviews?limit=50').set('Authorization', reviewerOf(tenant));
      assert.deepEqual(
        queue.body.items.map((i: { inferenceId: string }) => i.inferenceId).sort(),
        [...ids].sort(),
      );
      const after = await Promise.all(ids.map((id) => h.firestore.collection('reviewOutbox').doc(id).get()));
      assert.ok(after.every((entry) => entry.get('published') === true));

      // A sweep with nothing left to do delivers nothing again.
      const idle = await sweep();
      assert.equal(idle.status, 200);
      assert.equal(idle.body.failed, 0);
    } finally {
      resume();
    }
  });

  it('refuses callers without the scheduler’s token', async () => {
    assert.equal((await h.jobs.post('/jobs/sweep-review-outbox')).status, 401);
    const clinician = await h.jobs
      .post('/jobs/sweep-review-outbox')
      .set('Authorization', `Bearer dev:${tenant}:admin:al`);
    assert.equal(clinician.status, 401);
    const stranger = await h.jobs
      .post('/jobs/sweep-review-outbox')
      .set('Authorization', h.serviceToken('someone@local.test'));
    assert.equal(stranger.status, 403);
  });
});
