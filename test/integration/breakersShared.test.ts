import assert from 'node:assert/strict';
import { Firestore } from '@google-cloud/firestore';
import type { Config } from '../../functions/src/config.js';
import type { BreakerStore } from '../../functions/src/core/breakers/breakerStore.js';
import {
  type BreakerGateway,
  breakerConfig,
  countingStore,
  startBreakerGateway,
} from '../support/breakerHarness.js';
import { manualClock, useModelServers } from '../support/gatewayHarness.js';

/**
 * Breakers shared between gateway instances through Firestore: two independent in-process stacks (each its
 * own gateway, board and Firestore client) on one emulator project, sharing one injected clock.
 */
describe('circuit breakers shared between gateway instances (Firestore emulator)', () => {
  const models = useModelServers();
  const running: BreakerGateway[] = [];
  const extraClients: Firestore[] = [];

  const start = (config: Config, options: Parameters<typeof startBreakerGateway>[1] = {}) => {
    const gw = startBreakerGateway(config, options);
    running.push(gw);
    return gw;
  };
  const firestoreFor = (config: Config) => {
    const db = new Firestore({ projectId: config.project, ignoreUndefinedProperties: true });
    extraClients.push(db);
    return db;
  };

  afterEach(async () => {
    await Promise.all(running.splice(0).map((gw) => gw.close()));
    await Promise.all(extraClients.splice(0).map((db) => db.terminate()));
  });

  it('an opening seen by one instance is honoured by the other', async () => {
    const config = breakerConfig(models);
    const clock = manualClock();
    const one = start(config, { clock });
    const two = start(config, { clock });
    await models.a.setBehaviour({ failRate: 1 });
    await one.inferMany(20);
    assert.equal((await one.breakerOf('local-a')).state, 'open');

    // The other instance's next refresh (its timer, here called directly) brings the opening in.
    await two.breakers.refresh();
    const served = await two.inferMany(10);
    assert.ok(served.every((r) => r.status === 200 && r.body.provider === 'local-b'));
    assert.equal((await models.a.stats()).requests, 20, 'the second instance sent local-a nothing');
    assert.deepEqual(await two.breakerOf('local-a'), await one.breakerOf('local-a'));
    assert.equal(two.audit.breakerEvents().length, 0, 'only the instance that made the transition audits it');
  });

  it('judges the shared window: failures seen by two instances open it together, in exactly one transition', async () => {
    const config = breakerConfig(models);
    const clock = manualClock();
    const one = start(config, { clock });
    const two = start(config, { clock });
    await models.a.setBehaviour({ failRate: 1 });
    await one.inferMany(12);
    await two.inferMany(12);
    assert.equal((await one.breakerOf('local-a')).state, 'closed', '12 failures each: neither alone opens');
    assert.equal((await two.breakerOf('local-a')).state, 'closed');

    await Promise.all([one.breakers.flush(), two.breakers.flush()]);
    // Both notice the 24 shared failures at once; both try to open it.
    await Promise.all([one.breakers.refresh(), two.breakers.refresh()]);
    await Promise.all([one.breakers.settled(), two.breakers.settled()]);

    const events = [...one.audit.breakerEvents(), ...two.audit.breakerEvents()];
    assert.equal(events.length, 1, 'exactly one breaker.opened across the instances');
    assert.deepEqual(events[0]!.breaker, {
      provider: 'local-a',
      from: 'closed',
      to: 'open',
      windowRequests: 24,
      windowFailures: 24,
      errorRate: 1,
    });
    for (const gw of [one, two]) {
      const served = await gw.inferMany(1);
      assert.equal(served[0]!.body.provider, 'local-b');
    }
    assert.equal((await models.a.stats()).requests, 24);
  });

  it('hands out the half-open probe permits across all instances, not per instance', async () => {
    const config = breakerConfig(models);
    const clock = manualClock();
    const one = start(config, { clock });
    const two = start(config, { clock });
    await models.a.setBehaviour({ failRate: 1 });
    await one.inferMany(20);
    await two.breakers.refresh();
    clock.advance(30_000);

    // Admissions as the router asks for them; the probes stay out until their outcomes are recorded.
    const admit = (gw: BreakerGateway) => gw.breakers.admit('local-a');
    const grants = [await admit(one), await admit(two), await admit(one), await admit(two), await admit(one)];
    assert.deepEqual(
      grants.map((g) => (g.allowed ? 'probe' : 'refused')),
      ['probe', 'probe', 'probe', 'refused', 'refused'],
    );
    const refused = grants[3]!;
    assert.ok(!refused.allowed && refused.state === 'half_open' && refused.retryAfterMs > 0);

    for (const [gw, n] of [
      [one, 2],
      [two, 1],
    ] as const) {
      for (let i = 0; i < n; i++)
        gw.breakers.recordOutcome('local-a', { ok: true, latencyMs: 5, probe: true, inputChars: 100 });
    }
    await Promise.all([one.breakers.settled(), two.breakers.settled()]);
    assert.equal((await two.breakerOf('local-a')).state, 'closed');
    assert.equal((await one.breakerOf('local-a')).state, 'closed');
    const events = [...one.audit.breakerEvents(), ...two.audit.breakerEvents()]
      .map((e) => e.eventType)
      .sort();
    assert.deepEqual(events, ['breaker.closed', 'breaker.half_opened', 'breaker.opened']);
  });

  it('makes zero Firestore writes per request while healthy; one flush writes one document per provider', async () => {
    const config = breakerConfig(models);
    const db = firestoreFor(config);
    const store = countingStore(db);
    const gw = start(config, { breakerStore: store, firestore: db });
    await gw.breakers.refresh();

    for (let batch = 0; batch < 10; batch++) {
      const answers = await Promise.all(Array.from({ length: 20 }, () => gw.infer()));
      assert.ok(answers.every((r) => r.status === 200 && r.body.provider === 'local-a'));
    }
    await gw.breakers.settled();
    assert.equal(store.total(), 0, '200 healthy requests, no breaker write');
    assert.equal((await db.collection('breakers').get()).size, 0);
    assert.equal((await db.collection('breakerBuckets').get()).size, 0);

    await gw.breakers.flush();
    assert.equal(store.total(), 1, 'one flush: one increment, for local-a (local-b had no traffic)');
    const buckets = await db.collection('breakerBuckets').get();
    assert.equal(buckets.size, 1);
    assert.equal(buckets.docs[0]!.get('requests'), 200);
    assert.equal(buckets.docs[0]!.get('failures'), 0);

    await Promise.all(Array.from({ length: 50 }, () => gw.infer()));
    await gw.breakers.flush();
    await gw.breakers.flush();
    assert.equal(store.total(), 2, 'a flush with nothing pending writes nothing');
    assert.deepEqual([...store.writes.values()], [2], 'the same bucket document, once per flush');
    assert.equal((await db.collection('breakerBuckets').get()).docs[0]!.get('requests'), 250);
    assert.equal((await gw.breakerOf('local-a')).requests, 250);
    assert.equal(store.total(), 2, 'reading the state for an operator writes nothing');
  });

  it('with Firestore unreachable, decides on the local view and says so; the shared state wins once it is back', async () => {
    const config = breakerConfig(models);
    const db = firestoreFor(config);
    const real = countingStore(db);
    let reachable = true;
    const unavailable = () => Object.assign(new Error('14 UNAVAILABLE: no connection'), { code: 14 });
    const guard =
      <A extends unknown[], R>(f: (...args: A) => Promise<R>) =>
      (...args: A): Promise<R> =>
        reachable ? f(...args) : Promise.reject(unavailable());
    const flaky: BreakerStore = {
      loadRecords: guard((p) => real.loadRecords(p)),
      loadBuckets: guard((...a) => real.loadBuckets(...a)),
      addCounts: guard((i) => real.addCounts(i)),
      update: (provider, decide) =>
        reachable ? real.update(provider, decide) : Promise.reject(unavailable()),
    };
    const gw = start(config, { breakerStore: flaky, firestore: db });
    await gw.breakers.refresh();

    reachable = false;
    await models.a.setBehaviour({ failRate: 1 });
    await gw.inferMany(20);
    await gw.breakers.flush();
    const served = await gw.inferMany(5);
    assert.ok(served.every((r) => r.status === 200 && r.body.provider === 'local-b'));
    assert.equal(
      (await models.a.stats()).requests,
      20,
      'opened on this instance: local-a gets no more calls',
    );
    assert.equal(real.total(), 0);
    assert.equal(gw.audit.breakerEvents().length, 0, 'a local-only transition is not a shared one');

    const lines = gw.logLines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const warnings = lines.filter((l) => l.severity === 'WARNING');
    assert.equal(warnings.filter((l) => l.event === 'breaker_store_unavailable').length, 1, 'said once');
    assert.ok(warnings.some((l) => l.event === 'breaker_local_transition' && l.provider === 'local-a'));

    reachable = true;
    await gw.breakers.refresh();
    await gw.breakers.settled();
    assert.ok(gw.logLines.some((l) => JSON.parse(l).event === 'breaker_store_recovered'));
    // The failures it kept in memory still count: the shared breaker opens now, and that is audited.
    assert.deepEqual(
      gw.audit.breakerEvents().map((e) => [e.eventType, e.breaker?.windowFailures]),
      [['breaker.opened', 20]],
    );
    assert.equal((await db.collection('breakers').doc('local-a').get()).get('state'), 'open');
  });
});
