import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Firestore } from '@google-cloud/firestore';
import { FirestoreBreakerStore } from '../../functions/src/adapters/firestore/firestoreBreakerStore.js';
import { BreakerStatusReader } from '../../functions/src/core/breakers/breakerStatusReader.js';
import { decideOpen } from '../../functions/src/core/breakers/transitions.js';
import { defaultBreakerSettings } from '../support/breakerHarness.js';

/** The admin view's read of the shared breakers, against the Firestore emulator. */

const settings = defaultBreakerSettings;
const T0 = Date.parse('2026-12-01T09:00:00Z');

describe('BreakerStatusReader (Firestore emulator)', () => {
  let db: Firestore;
  let store: FirestoreBreakerStore;

  beforeEach(() => {
    db = new Firestore({
      projectId: `breaker-status-${randomUUID().slice(0, 8)}`,
      ignoreUndefinedProperties: true,
    });
    store = new FirestoreBreakerStore(db);
  });
  afterEach(async () => {
    await db.terminate();
  });

  it("shows a closed breaker's live window, an open breaker's opening figures, and writes nothing", async () => {
    const count = (provider: string, bucketStart: number, requests: number, failures: number) => ({
      provider,
      generation: 0,
      bucketStart,
      shard: 0,
      counts: { requests, failures },
      expiresAt: bucketStart + 70_000,
    });
    // local-a: two buckets in the window (enough to open it: a board would) and one that has left it.
    // local-b: opened at T0.
    await store.addCounts([
      count('local-a', T0 - 70_000, 50, 50),
      count('local-a', T0 - 20_000, 10, 5),
      count('local-a', T0, 10, 0),
    ]);
    const opening = { requests: 40, failures: 10, errorRate: 0.25 };
    await store.update('local-b', (current) => decideOpen('local-b', current, 0, opening, T0));

    let writes = 0;
    const watched = new Proxy(store, {
      get(target, name, receiver) {
        if (name === 'update' || name === 'addCounts') writes++;
        return Reflect.get(target, name, receiver);
      },
    });
    const reader = new BreakerStatusReader({
      store: watched,
      settings: { 'local-a': settings, 'local-b': settings, 'local-c': settings },
      clock: () => T0 + 5_000,
    });
    assert.deepEqual(await reader.list(), [
      { name: 'local-a', state: 'closed', errorRate: 0.25, requests: 20, openedAt: null },
      { name: 'local-b', state: 'open', errorRate: 0.25, requests: 40, openedAt: new Date(T0).toISOString() },
      { name: 'local-c', state: 'closed', errorRate: 0, requests: 0, openedAt: null },
    ]);
    assert.equal(writes, 0);
  });
});
