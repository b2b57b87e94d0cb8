import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { type DocumentReference, Firestore, type Timestamp } from '@google-cloud/firestore';
import { CoalescedCalls, type CommitWrite } from '../../functions/src/adapters/firestore/coalescedCalls.js';
import { FirestoreInferenceStore } from '../../functions/src/adapters/firestore/firestoreInferenceStore.js';
import { FirestoreLedgerStore } from '../../functions/src/adapters/firestore/firestoreLedgerStore.js';
import { createProviderClients } from '../../functions/src/adapters/providers/createProviderClients.js';
import { AuditTrail, isCommitOutcomeUnknownError } from '../../functions/src/core/audit/auditTrail.js';
import { DEV_CHAIN_KEY } from '../../functions/src/core/audit/chain.js';
import type { AuditEvent } from '../../functions/src/core/audit/events.js';
import {
  DependencyUnavailableError,
  isGatewayError,
  LeaseLostError,
} from '../../functions/src/core/errors.js';
import { IdempotencyLedger, ledgerRecordId } from '../../functions/src/core/idempotency/ledger.js';
import type { InferenceStore } from '../../functions/src/core/inference/inference.js';
import { InferenceService } from '../../functions/src/core/inference/inferenceService.js';
import { ProviderRouter } from '../../functions/src/core/routing/router.js';
import {
  bearer,
  type ModelServerControl,
  medicationNote,
  startModelServers,
  testConfig,
  uniqueTenant,
  useGatewayStack,
} from '../support/gatewayHarness.js';

/**
 * The hot path's cost in Firestore operations, by request kind, and what an instance does past its
 * capacity. Counted at the SDK's entry points (each one RPC: a claim is one BatchWrite, a batch one Commit, a
 * get one BatchGetDocuments), so a change that adds a round trip to a request shows here, not only in a
 * benchmark.
 */

type Counts = Record<string, number>;

/** Polls `done` every 10 ms; fails naming `what` if it is not true within 5 s. */
async function waitFor(done: () => boolean, what: string): Promise<void> {
  for (const deadline = Date.now() + 5_000; !done(); ) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Counts the Firestore RPCs of this process while `work` runs, by method (commit, batchGetDocuments,
 * beginTransaction, ...). Every call of the SDK reaches the backend through `request` (unary) or
 * `requestStream` (streaming reads): the one funnel that sees each round trip exactly once.
 */
async function countOperations(work: () => Promise<unknown>): Promise<Counts> {
  const counts: Counts = {};
  const proto = Firestore.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  const originals = { request: proto.request!, requestStream: proto.requestStream! };
  for (const name of ['request', 'requestStream'] as const) {
    const original = originals[name];
    proto[name] = function (this: unknown, method: unknown, ...rest: unknown[]) {
      counts[String(method)] = (counts[String(method)] ?? 0) + 1;
      return original.call(this, method, ...rest);
    };
  }
  try {
    await work();
  } finally {
    proto.request = originals.request;
    proto.requestStream = originals.requestStream;
  }
  return counts;
}

describe('the inference hot path: Firestore round trips per request kind (emulator)', () => {
  const tenant = uniqueTenant();
  const body = (text = medicationNote) => JSON.stringify({ task: 'medication-extraction', input: { text } });
  const post = (key: string, text?: string) =>
    gw.api
      .post('/v1/inferences')
      .set('Authorization', bearer(tenant, 'clinician', 'alice'))
      .set('Content-Type', 'application/json')
      .set('Idempotency-Key', key)
      .send(body(text));

  // The breakers' background reads and flushes, and the batched deletion of emitted audit events' pending
  // copies, are not part of any request: out of the way here.
  const { models, gw } = useGatewayStack({
    env: { BREAKER_REFRESH_MS: '600000', BREAKER_FLUSH_MS: '600000', AUDIT_PENDING_RELEASE_MS: '60000' },
  });
  before(async () => {
    await post(randomUUID()); // warm: clients, connections, the breakers' first read
  });

  it('a new key: one write to claim (conditional create), one commit to complete (batch with a precondition)', async () => {
    let status = 0;
    const counts = await countOperations(async () => {
      status = (await post(randomUUID())).status;
    });
    assert.equal(status, 200);
    assert.deepEqual(counts, { batchWrite: 1, commit: 1 });
  });

  it('a replay: the failed create and one read; no model call', async () => {
    const key = randomUUID();
    assert.equal((await post(key)).status, 200);
    let res: Awaited<ReturnType<typeof post>> | undefined;
    const counts = await countOperations(async () => {
      res = await post(key);
    });
    assert.equal(res?.headers['idempotent-replayed'], 'true');
    assert.deepEqual(counts, { batchWrite: 1, batchGetDocuments: 1 });
    assert.equal((await models.a.stats()).requests, 1);
  });

  it('409 while in progress and 422 for another body: the failed create and one read each', async () => {
    await models.a.setBehaviour({ latencyMs: 400 });
    const key = randomUUID();
    const first = post(key).then((r) => r); // supertest sends on then()
    await new Promise((resolve) => setTimeout(resolve, 150));
    let during: Awaited<ReturnType<typeof post>> | undefined;
    const busy = await countOperations(async () => {
      during = await post(key);
    });
    assert.equal(during?.status, 409);
    assert.deepEqual(busy, { batchWrite: 1, batchGetDocuments: 1 });
    assert.equal((await first).status, 200);

    let reused: Awaited<ReturnType<typeof post>> | undefined;
    const other = await countOperations(async () => {
      reused = await post(key, 'Aspirin 81 mg daily.');
    });
    assert.equal(reused?.status, 422);
    assert.deepEqual(other, { batchWrite: 1, batchGetDocuments: 1 });
  });

  it('a read of an inference (a client polling one pending review): one read', async () => {
    const created = await post(randomUUID());
    assert.equal(created.status, 200);
    let status = 0;
    const counts = await countOperations(async () => {
      status = (
        await gw.api
          .get(`/v1/inferences/${created.body.id}`)
          .set('Authorization', bearer(tenant, 'clinician', 'alice'))
      ).status;
    });
    assert.equal(status, 200);
    assert.deepEqual(counts, { batchGetDocuments: 1 });
  });

  it('503 with every provider failing: the claim, then its owner-checked release (a read and a commit)', async () => {
    await models.a.setBehaviour({ failRate: 1, failStatus: 500 });
    await models.b.setBehaviour({ failRate: 1, failStatus: 500 });
    let status = 0;
    const counts = await countOperations(async () => {
      status = (await post(randomUUID())).status;
    });
    assert.equal(status, 503);
    assert.deepEqual(counts, { batchWrite: 1, commit: 1, batchGetDocuments: 1 });
  });
});

describe('claims, reads and completions of requests that arrive together share a round trip (emulator)', () => {
  let db: Firestore;
  let ledger: FirestoreLedgerStore;
  const record = (ownerToken: string) => ({
    state: 'in_progress' as const,
    tenant: 'coalesced',
    fingerprint: 'fp',
    ownerToken,
    inferenceId: `inf_${ownerToken}`,
    createdAt: new Date(),
    leaseExpiresAt: new Date(Date.now() + 10_000),
    expiresAt: new Date(Date.now() + 86_400_000),
  });

  before(() => {
    db = new Firestore({
      projectId: `coalesced-${randomUUID().slice(0, 8)}`,
      ignoreUndefinedProperties: true,
    });
    ledger = new FirestoreLedgerStore(db);
  });
  after(() => db.terminate());

  it('sends the creates of one turn of the event loop in one BatchWrite, and its reads in one read', async () => {
    assert.ok(await ledger.create('taken', record('first')));
    const ids = Array.from({ length: 8 }, (_, i) => `key-${i}`);
    let created: Array<unknown> = [];
    const writes = await countOperations(async () => {
      created = await Promise.all([...ids, 'taken'].map((id) => ledger.create(id, record(id))));
    });
    assert.deepEqual(writes, { batchWrite: 1 });
    assert.equal(created.filter((c) => c !== null).length, 8, 'each new key is created');
    assert.equal(created.at(-1), null, 'the existing key is refused, in the same call');

    let owners: Array<string | null> = [];
    const reads = await countOperations(async () => {
      const found = await Promise.all([...ids, 'taken', 'absent'].map((id) => ledger.get(id)));
      owners = found.map((f) => f?.value.ownerToken ?? null);
    });
    assert.deepEqual(reads, { batchGetDocuments: 1 });
    assert.deepEqual(owners, [...ids, 'first', null]);
  });

  it('fails only the caller whose document the client cannot encode; the others of its turn land', async () => {
    const shared = new CoalescedCalls(db);
    const refs = ['good-1', 'unencodable', 'good-2'].map((id) => db.collection('coalesced').doc(id));
    const outcomes = await Promise.allSettled(
      refs.map((ref) => shared.create(ref, ref.id === 'unencodable' ? { f: () => 1 } : { ok: true })),
    );
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    const stored = await db.getAll(...refs);
    assert.deepEqual(
      stored.map((snap) => snap.exists),
      [true, false, true],
    );
  });

  it('sends the commits of one turn in one Commit; one refused for a stale version goes again alone, and only it fails', async () => {
    const shared = new CoalescedCalls(db);
    const collection = db.collection('coalescedCommits');
    const claim = async (round: string) => {
      const refs = [1, 2, 3].map((i) => collection.doc(`${round}-${i}`));
      const versions = await Promise.all(refs.map((ref) => ref.create({ state: 'in_progress' })));
      return refs.map((ref, i) => ({ ref, version: versions[i]!.writeTime }));
    };
    const complete = ({ ref, version }: { ref: DocumentReference; version: Timestamp }): CommitWrite[] => [
      { kind: 'update', ref, data: { state: 'completed' }, lastUpdateTime: version },
      { kind: 'create', ref: collection.doc(`${ref.id}-inference`), data: { of: ref.id } },
    ];
    const states = async (refs: DocumentReference[]) =>
      (await db.getAll(...refs.flatMap((ref) => [ref, collection.doc(`${ref.id}-inference`)]))).map((snap) =>
        snap.exists ? (snap.get('state') ?? 'created') : 'absent',
      );

    const together = await claim('together');
    const one = await countOperations(() => Promise.all(together.map((c) => shared.commit(complete(c)))));
    assert.deepEqual(one, { commit: 1 });
    assert.deepEqual(
      await states(together.map((c) => c.ref)),
      Array(3).fill(['completed', 'created']).flat(),
    );

    const refused = await claim('refused');
    await refused[1]!.ref.update({ state: 'taken over' });
    let outcomes: PromiseSettledResult<void>[] = [];
    const calls = await countOperations(async () => {
      outcomes = await Promise.allSettled(refused.map((c) => shared.commit(complete(c))));
    });
    assert.deepEqual(calls, { commit: 4 }, 'the shared call, then each commit alone');
    assert.deepEqual(
      outcomes.map((o) => (o.status === 'rejected' ? (o.reason as { code?: unknown }).code : 'ok')),
      ['ok', 9, 'ok'],
    );
    assert.deepEqual(await states(refused.map((c) => c.ref)), [
      'completed',
      'created',
      'taken over',
      'absent',
      'completed',
      'created',
    ]);
  });

  it('fails only the commit with a document the client cannot encode; the others of its turn land', async () => {
    const shared = new CoalescedCalls(db);
    const refs = ['good-1', 'unencodable', 'good-2'].map((id) => db.collection('coalescedCommits').doc(id));
    const outcomes = await Promise.allSettled(
      refs.map((ref) =>
        shared.commit([
          { kind: 'create', ref, data: ref.id === 'unencodable' ? { f: () => 1 } : { ok: true } },
        ]),
      ),
    );
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    assert.deepEqual(
      (await db.getAll(...refs)).map((snap) => snap.exists),
      [true, false, true],
    );
  });

  it('sends creates of one key in separate calls: one lands, the other is refused', async () => {
    let created: Array<unknown> = [];
    const writes = await countOperations(async () => {
      created = await Promise.all(['one', 'other'].map((owner) => ledger.create('same', record(owner))));
    });
    assert.deepEqual(writes, { batchWrite: 2 });
    assert.equal(created.filter((c) => c !== null).length, 1);
  });
});

describe('an instance over its capacity sheds load at once (emulator)', () => {
  const tenant = uniqueTenant();
  const post = (key: string) =>
    gw.api
      .post('/v1/inferences')
      .set('Authorization', bearer(tenant, 'clinician', 'alice'))
      .set('Content-Type', 'application/json')
      .set('Idempotency-Key', key)
      .send(JSON.stringify({ task: 'medication-extraction', input: { text: medicationNote } }));

  const { models, gw } = useGatewayStack({ env: { MAX_CONCURRENT_REQUESTS: '2' } });

  it('answers 503 + Retry-After past the configured concurrency, claims nothing, and serves the retry', async () => {
    await models.a.setBehaviour({ latencyMs: 500 });
    const keys = Array.from({ length: 5 }, () => randomUUID());
    const answers = await Promise.all(keys.map((key) => post(key)));
    const accepted = answers.filter((r) => r.status === 200);
    const shed = answers.filter((r) => r.status === 503);
    assert.equal(accepted.length, 2);
    assert.equal(shed.length, 3);
    for (const r of shed) {
      assert.equal(r.headers['retry-after'], '1');
      assert.match(r.headers['content-type'] ?? '', /^application\/problem\+json/);
      assert.equal(r.body.type, 'tag:clinical-ai-gateway,2026:problems/overloaded');
    }
    assert.equal((await models.a.stats()).requests, 2, 'shed requests never reach a model');
    await models.a.setBehaviour({ latencyMs: 0 });
    // A shed key was never claimed: its retry runs anew.
    const retried = await post(keys[answers.findIndex((r) => r.status === 503)]!);
    assert.equal(retried.status, 200);
    assert.equal(retried.headers['idempotent-replayed'], undefined);
  });

  it('always answers the health check', async () => {
    assert.equal((await gw.api.get('/healthz')).status, 200);
  });
});

describe('the audited completion: ambiguous commits and lost leases (emulator)', () => {
  let models: { a: ModelServerControl; b: ModelServerControl; close(): Promise<void> };
  let db: Firestore;
  const tenant = uniqueTenant();

  before(async () => {
    models = await startModelServers();
    db = new Firestore({
      projectId: process.env.GOOGLE_CLOUD_PROJECT ?? 'demo-clinical-gateway-test',
      ignoreUndefinedProperties: true,
    });
  });
  after(async () => {
    await db.terminate();
    await models.close();
  });

  /** An inference service on the emulator whose completion store misbehaves as `wrap` says. */
  function service(wrap: (store: InferenceStore) => InferenceStore) {
    const config = testConfig(models);
    const events: AuditEvent[] = [];
    const resolutions: unknown[] = [];
    const real = new FirestoreInferenceStore(db);
    const store = wrap(real);
    const trail = new AuditTrail({
      sink: { write: async (e) => void events.push(e) },
      key: DEV_CHAIN_KEY,
      heads: store,
      warn: () => undefined,
      info: (message, fields) => resolutions.push({ message, outcome: fields?.outcome }),
      // The background rounds of an unknown outcome, at test speed.
      recheck: { minMs: 20, maxMs: 50, attempts: 8 },
      recommit: { minMs: 20, maxMs: 50, attempts: 20 },
    });
    const ledger = new IdempotencyLedger(new FirestoreLedgerStore(db), { ttlMs: 3_600_000, leaseMs: 30_000 });
    const svc = new InferenceService({
      ledger,
      store,
      router: new ProviderRouter({
        clients: createProviderClients(config.routing, { project: config.project }),
        breakers: {
          admit: async () => ({ allowed: true, state: 'closed', probe: false }),
          recordOutcome: () => undefined,
        },
      }),
      routing: config.routing,
      trail,
      auditHmacKey: 'k'.repeat(32),
      gatewayVersion: 'test',
      reviewSampleRate: 0,
      reviewOutbox: { deliver: async () => true },
    });
    const principal = { tenant, subject: 'alice', roles: ['clinician' as const] };
    const create = (key: string) =>
      svc.create(
        principal,
        key,
        `fp-${key}`,
        { task: 'medication-extraction', input: { text: medicationNote } },
        {
          trace: null,
        },
      );
    return { create, events, real, ledger, resolutions };
  }

  it('a commit that applied but answered UNAVAILABLE is a success: the completed event, not a failure', async () => {
    const { create, events, real } = service((store) => ({
      readHead: (id) => store.readHead(id),
      getInference: (id) => store.getInference(id),
      commitCompletion: async (input) => {
        await store.commitCompletion(input);
        throw Object.assign(new Error('14 UNAVAILABLE: connection reset'), { code: 14 });
      },
    }));
    const answer = await create(randomUUID());
    assert.equal(answer.status, 200);
    assert.deepEqual(
      events.map((e) => e.eventType),
      ['inference.completed'],
    );
    const stored = await real.getInference(answer.inferenceId);
    assert.equal(stored?.auditHead.eventId, events[0]!.eventId);
  });

  it('a commit whose outcome is unknown keeps the claim: the late commit lands, and the retry replays it', async () => {
    // The store stalls: the completion's deadline passes while its write is still queued, and the chain
    // head cannot be read back. When the store wakes, the queued write applies.
    let wake!: () => void;
    const awake = new Promise<void>((resolve) => {
      wake = resolve;
    });
    let lateCommit: Promise<void> | null = null;
    let stalled = true;
    const { create, events, resolutions } = service((store) => ({
      readHead: async (id) => {
        if (stalled) throw new DependencyUnavailableError('inference store');
        return store.readHead(id);
      },
      getInference: (id) => store.getInference(id),
      commitCompletion: async (input) => {
        // Only the first write is queued; the trail's rewrites meanwhile find the store unavailable.
        lateCommit ??= awake.then(() => store.commitCompletion(input));
        throw new DependencyUnavailableError('inference store');
      },
    }));
    const key = randomUUID();
    const calls = (await models.a.stats()).requests;
    await assert.rejects(create(key), (e) => isCommitOutcomeUnknownError(e));
    stalled = false;
    wake();
    await lateCommit;
    const retry = await create(key);
    assert.equal(retry.replayed, true, 'the late commit is the answer: the retry replays it');
    assert.equal(retry.status, 200);
    assert.equal((await models.a.stats()).requests - calls, 1, 'one model call for the key');
    await waitFor(() => events.length > 1, 'the completed event');
    assert.deepEqual(events.map((e) => e.eventType).sort(), ['inference.completed', 'inference.replayed']);
    assert.deepEqual(resolutions, [{ message: 'audited commit outcome resolved', outcome: 'landed' }]);
  });

  /** A store that is down: the first completion is dropped unapplied, and nothing answers until `wake`. */
  function droppedCompletion() {
    let down = true;
    let commits = 0;
    const unavailable = () => new DependencyUnavailableError('inference store');
    const wrap = (store: InferenceStore): InferenceStore => ({
      readHead: async (id) => {
        if (down) throw unavailable();
        return store.readHead(id);
      },
      getInference: (id) => store.getInference(id),
      commitCompletion: async (input) => {
        commits++;
        if (down) throw unavailable();
        await store.commitCompletion(input);
      },
    });
    return {
      wrap,
      wake: () => {
        down = false;
      },
      commits: () => commits,
    };
  }

  it('a completion the store dropped while its outcome was unknown is written again once it answers: the retry replays it', async () => {
    const store = droppedCompletion();
    const { create, events, resolutions } = service(store.wrap);
    const key = randomUUID();
    const calls = (await models.a.stats()).requests;
    await assert.rejects(create(key), (e) => isCommitOutcomeUnknownError(e));
    await waitFor(() => store.commits() >= 3, 'the completion written again while the store is down');
    assert.equal(events.length, 0, 'no event while the outcome is unknown');
    store.wake();
    await waitFor(() => events.length > 0, 'the completed event');
    assert.deepEqual(
      events.map((e) => e.eventType),
      ['inference.completed'],
    );
    const retry = await create(key);
    assert.equal(retry.replayed, true, 'the rewritten completion is the answer: the retry replays it');
    assert.equal(retry.status, 200);
    assert.equal((await models.a.stats()).requests - calls, 1, 'one model call for the key');
    assert.deepEqual(resolutions, [{ message: 'audited commit outcome resolved', outcome: 'written_again' }]);
  });

  it('a dropped completion whose key was taken over meanwhile is not written: inference.failed (lease_lost), once', async () => {
    const store = droppedCompletion();
    const { create, events, resolutions } = service(store.wrap);
    const key = randomUUID();
    await assert.rejects(create(key), (e) => isCommitOutcomeUnknownError(e));
    // Another holder's claim replaces ours (as a retry does once the lease has run out): a new write time.
    const recordId = ledgerRecordId(tenant, key);
    await db.collection('idempotencyKeys').doc(recordId).update({ ownerToken: 'someone-else' });
    const commitsBefore = store.commits();
    store.wake();
    await waitFor(() => events.length > 0, 'the failure event');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(
      events.map((e) => [e.eventType, e.decision?.failureReason]),
      [['inference.failed', 'lease_lost']],
    );
    assert.equal(store.commits() - commitsBefore, 1, 'one refused write, then no more');
    const record = (await db.collection('idempotencyKeys').doc(recordId).get()).data();
    assert.equal(record?.ownerToken, 'someone-else', "the other holder's claim is left alone");
    assert.equal(record?.state, 'in_progress');
    assert.deepEqual(resolutions, [{ message: 'audited commit outcome resolved', outcome: 'refused' }]);
  });

  it('a commit that did not apply stays a failure: inference.failed, the key released', async () => {
    const { create, events } = service((store) => ({
      readHead: (id) => store.readHead(id),
      getInference: (id) => store.getInference(id),
      commitCompletion: async () => {
        throw new DependencyUnavailableError('inference store');
      },
    }));
    await assert.rejects(create(randomUUID()));
    assert.deepEqual(
      events.map((e) => [e.eventType, e.decision?.failureReason]),
      [['inference.failed', 'dependency_unavailable']],
    );
  });

  it('a holder that lost its lease still audits the provider call it made (lease_lost), and answers 409', async () => {
    const { create, events } = service((store) => ({
      readHead: (id) => store.readHead(id),
      getInference: (id) => store.getInference(id),
      commitCompletion: async () => {
        throw new LeaseLostError();
      },
    }));
    await assert.rejects(create(randomUUID()), (e) => isGatewayError(e, 'in_progress'));
    assert.equal(events.length, 1);
    assert.equal(events[0]!.eventType, 'inference.failed');
    assert.equal(events[0]!.decision?.failureReason, 'lease_lost');
    assert.equal(events[0]!.decision?.routing?.attempts[0]?.outcome, 'success');
  });
});
