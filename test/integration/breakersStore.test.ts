import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Firestore, Timestamp } from '@google-cloud/firestore';
import { FirestoreBreakerStore } from '../../functions/src/adapters/firestore/firestoreBreakerStore.js';
import {
  decideOpen,
  decideProbeAdmission,
  decideProbeResult,
} from '../../functions/src/core/breakers/transitions.js';
import { defaultBreakerSettings } from '../support/breakerHarness.js';

/** The breaker store's contract, against the Firestore emulator (real transactions, real increments). */

const settings = defaultBreakerSettings;
const T0 = Date.parse('2026-11-27T09:00:00Z');
const figures = { requests: 40, failures: 10, errorRate: 0.25 };

describe('FirestoreBreakerStore (Firestore emulator)', () => {
  let db: Firestore;
  let store: FirestoreBreakerStore;

  beforeEach(() => {
    // A project of its own per test: breaker documents are per provider name, shared by every gateway.
    db = new Firestore({
      projectId: `breakers-store-${randomUUID().slice(0, 8)}`,
      ignoreUndefinedProperties: true,
    });
    store = new FirestoreBreakerStore(db);
  });
  afterEach(async () => {
    await db.terminate();
  });

  it('reads a provider never written as null', async () => {
    const records = await store.loadRecords(['local-a', 'local-b']);
    assert.deepEqual(
      [...records],
      [
        ['local-a', null],
        ['local-b', null],
      ],
    );
  });

  it('adds counts with increments, sums shards per bucket, and keeps providers and generations apart', async () => {
    const inc = (
      provider: string,
      generation: number,
      bucketStart: number,
      shard: number,
      r: number,
      f: number,
    ) => ({
      provider,
      generation,
      bucketStart,
      shard,
      counts: { requests: r, failures: f },
      expiresAt: bucketStart + 70_000,
    });
    await store.addCounts([inc('local-a', 0, T0, 0, 10, 1), inc('local-b', 0, T0, 0, 5, 5)]);
    await store.addCounts([inc('local-a', 0, T0, 0, 7, 0), inc('local-a', 0, T0, 3, 2, 2)]);
    await store.addCounts([inc('local-a', 0, T0 + 10_000, 1, 4, 0), inc('local-a', 1, T0, 0, 99, 99)]);
    // Names that share a prefix and would sort inside local-a's id range.
    await store.addCounts([inc('local-a.x', 0, T0, 0, 50, 50), inc('local', 0, T0, 0, 60, 60)]);

    const window = await store.loadBuckets('local-a', 0, T0 - 50_000, T0 + 10_000);
    assert.deepEqual(
      [...window].sort(([a], [b]) => a - b),
      [
        [T0, { requests: 19, failures: 3 }],
        [T0 + 10_000, { requests: 4, failures: 0 }],
      ],
    );
    assert.deepEqual(
      [...(await store.loadBuckets('local-a', 0, T0 + 10_000, T0 + 10_000))],
      [[T0 + 10_000, { requests: 4, failures: 0 }]],
    );
    assert.deepEqual(
      [...(await store.loadBuckets('local-a', 1, T0, T0))],
      [[T0, { requests: 99, failures: 99 }]],
    );

    const doc = (await db.collection('breakerBuckets').where('provider', '==', 'local-a').get()).docs.find(
      (d) => d.get('shard') === 0 && d.get('generation') === 0 && d.get('bucketStart').toMillis() === T0,
    );
    assert.ok(doc, 'the bucket document exists');
    assert.ok(doc.get('expiresAt') instanceof Timestamp, 'a TTL policy can expire it');
    assert.equal(doc.get('expiresAt').toMillis(), T0 + 70_000);
  });

  it('N concurrent openings of the same closed generation make exactly one transition', async () => {
    const results = await Promise.all(
      Array.from({ length: 8 }, () =>
        store.update('local-a', (current) => decideOpen('local-a', current, 0, figures, T0)),
      ),
    );
    assert.equal(results.filter((r) => r.transition).length, 1);
    const record = (await store.loadRecords(['local-a'])).get('local-a');
    assert.deepEqual(record, {
      state: { kind: 'open', openedAt: T0 },
      generation: 1,
      figures,
      changedAt: T0,
    });
  });

  it('grants exactly the configured number of probe permits across concurrent callers', async () => {
    await store.update('local-a', (current) => decideOpen('local-a', current, 0, figures, T0));
    const due = T0 + settings.openMs;
    const admissions = await Promise.all(
      Array.from({ length: 10 }, () =>
        store.update('local-a', (current) => decideProbeAdmission('local-a', current, due, settings)),
      ),
    );
    const granted = admissions.filter((a) => a.admission.granted === true);
    assert.equal(granted.length, 3);
    assert.equal(admissions.filter((a) => a.transition?.to === 'half_open').length, 1);

    // Two successes keep it half-open; the third closes it, into a new generation.
    for (let i = 0; i < 2; i++) {
      const r = await store.update('local-a', (c) =>
        decideProbeResult('local-a', c, 2, 'success', due + 1, settings),
      );
      assert.equal(r.transition, null);
    }
    const closed = await store.update('local-a', (c) =>
      decideProbeResult('local-a', c, 2, 'success', due + 2, settings),
    );
    assert.equal(closed.transition?.to, 'closed');
    const record = (await store.loadRecords(['local-a'])).get('local-a');
    assert.equal(record?.state.kind, 'closed');
    assert.equal(record?.generation, 3);
  });

  it('round-trips a half-open record, and refuses a document it cannot read', async () => {
    await store.update('local-a', (current) => decideOpen('local-a', current, 0, figures, T0));
    await store.update('local-a', (c) => decideProbeAdmission('local-a', c, T0 + settings.openMs, settings));
    const record = (await store.loadRecords(['local-a'])).get('local-a');
    assert.deepEqual(record?.state, {
      kind: 'half_open',
      openedAt: T0,
      halfOpenedAt: T0 + settings.openMs,
      permitsLeft: 2,
      successes: 0,
    });
    await db.collection('breakers').doc('local-b').set({ state: 'open', generation: 'seven' });
    await assert.rejects(store.loadRecords(['local-b']));
  });
});
