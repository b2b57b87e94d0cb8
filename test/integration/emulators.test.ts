import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Firestore } from '@google-cloud/firestore';
import { type Message, PubSub } from '@google-cloud/pubsub';
import {
  clearFirestore,
  isEmulatorSetupError,
  startFirestoreEmulator,
} from '../../functions/dev/emulators.js';
import { groupExists, isPortFree } from '../../functions/dev/processes.js';

const projectId = (): string => process.env.GOOGLE_CLOUD_PROJECT ?? '';

describe('emulators started by the root hooks', () => {
  it('point the SDKs at loopback emulators and the local gateway environment', () => {
    assert.match(process.env.FIRESTORE_EMULATOR_HOST ?? '', /^(127\.0\.0\.1|localhost|\[::1\]):\d+$/);
    assert.match(process.env.PUBSUB_EMULATOR_HOST ?? '', /^(127\.0\.0\.1|localhost|\[::1\]):\d+$/);
    assert.notEqual(projectId(), '');
    assert.equal(process.env.GATEWAY_ENV, 'local');
  });

  describe('Firestore', () => {
    let db: Firestore;
    let collection: string;

    before(() => {
      db = new Firestore({ projectId: projectId() });
    });
    beforeEach(() => {
      collection = `emulator-test-${randomUUID()}`;
    });
    after(async () => {
      await db.terminate();
    });

    it('accepts a write and reads it back', async () => {
      const ref = db.collection(collection).doc('doc-1');
      await ref.set({ task: 'medication-extraction', confidence: 0.93 });

      const snapshot = await ref.get();

      assert.equal(snapshot.exists, true);
      assert.deepEqual(snapshot.data(), { task: 'medication-extraction', confidence: 0.93 });
    });

    it('runs transactions: a create-if-absent and a read-modify-write', async () => {
      const ref = db.collection(collection).doc('counter');

      const created = await db.runTransaction(async (tx) => {
        const snapshot = await tx.get(ref);
        if (snapshot.exists) return false;
        tx.create(ref, { count: 0 });
        return true;
      });
      for (let i = 0; i < 3; i += 1) {
        await db.runTransaction(async (tx) => {
          const snapshot = await tx.get(ref);
          tx.update(ref, { count: (snapshot.get('count') as number) + 1 });
        });
      }

      assert.equal(created, true);
      assert.equal((await ref.get()).get('count'), 3);
    });

    it('is emptied by clearFirestore', async () => {
      const ref = db.collection(collection).doc('doomed');
      await ref.set({ here: true });

      await clearFirestore(process.env.FIRESTORE_EMULATOR_HOST ?? '', projectId());

      assert.equal((await ref.get()).exists, false);
    });
  });

  describe('Pub/Sub', () => {
    let pubsub: PubSub;

    before(() => {
      pubsub = new PubSub({ projectId: projectId() });
    });
    after(async () => {
      await pubsub.close();
    });

    it('creates a topic, publishes a message and delivers it to a subscription', async () => {
      const [topic] = await pubsub.createTopic(`review-requests-${randomUUID()}`);
      const [subscription] = await topic.createSubscription(`review-intake-${randomUUID()}`);
      try {
        const received = new Promise<Message>((resolve, reject) => {
          subscription.once('message', resolve);
          subscription.once('error', reject);
        });

        const messageId = await topic.publishMessage({
          json: { inferenceId: 'inf_test' },
          attributes: { tenant: 'acme' },
        });
        const message = await received;
        message.ack();

        assert.equal(message.id, messageId);
        assert.deepEqual(JSON.parse(message.data.toString('utf8')), { inferenceId: 'inf_test' });
        assert.equal(message.attributes.tenant, 'acme');
      } finally {
        await subscription.close();
      }
    });
  });
});

describe('startFirestoreEmulator', () => {
  it('rejects with a message naming a missing emulator binary', async () => {
    const bogus = `/nonexistent/${randomUUID()}/cloud_firestore_emulator`;
    const saved = process.env.FIRESTORE_EMULATOR_BIN;
    process.env.FIRESTORE_EMULATOR_BIN = bogus;
    try {
      await assert.rejects(startFirestoreEmulator({ port: 0 }), (error: unknown) => {
        assert.ok(isEmulatorSetupError(error));
        assert.ok(error.message.includes(bogus), error.message);
        assert.ok(error.message.includes('FIRESTORE_EMULATOR_BIN'), error.message);
        return true;
      });
    } finally {
      if (saved === undefined) delete process.env.FIRESTORE_EMULATOR_BIN;
      else process.env.FIRESTORE_EMULATOR_BIN = saved;
    }
  });

  it('stop() ends the whole process group and frees the port', async function () {
    this.timeout(120_000);
    const emulator = await startFirestoreEmulator({ port: 0, projectId: projectId() });
    assert.equal(groupExists(emulator.pid), true);
    assert.equal((await fetch(`http://${emulator.host}/`)).status, 200);

    await emulator.stop();

    assert.throws(() => process.kill(-emulator.pid, 0), { code: 'ESRCH' });
    assert.equal((await emulator.exited).expected, true);
    assert.equal(await isPortFree(emulator.port), true);
  });
});
