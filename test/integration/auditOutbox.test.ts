import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Firestore } from '@google-cloud/firestore';
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import supertest from 'supertest';
import { LocalAuditEventSource } from '../../functions/src/adapters/audit/localAuditEventSource.js';
import { LoggingAuditSink } from '../../functions/src/adapters/audit/loggingAuditSink.js';
import { devOidcToken } from '../../functions/src/adapters/auth/serviceCallerAuthenticator.js';
import { collections } from '../../functions/src/adapters/firestore/firestoreClient.js';
import { FirestoreDecisionLedger } from '../../functions/src/adapters/firestore/firestoreDecisionLedger.js';
import { FirestoreLedgerStore } from '../../functions/src/adapters/firestore/firestoreLedgerStore.js';
import { FirestoreReviewStore } from '../../functions/src/adapters/firestore/firestoreReviewStore.js';
import { AUDIT_WRITE_FAILED, type AuditSink } from '../../functions/src/core/audit/auditSink.js';
import { AuditTrail } from '../../functions/src/core/audit/auditTrail.js';
import { DEV_CHAIN_KEY, sealEvent } from '../../functions/src/core/audit/chain.js';
import { verifyChains } from '../../functions/src/core/audit/chainVerifier.js';
import { checkCompleteness } from '../../functions/src/core/audit/completeness.js';
import type { AuditEvent } from '../../functions/src/core/audit/events.js';
import type { ReviewPublisher } from '../../functions/src/core/review/reviewPublisher.js';
import { commitReviewChange } from '../../functions/src/core/review/reviewStore.js';
import { createGateway, type Gateway } from '../../functions/src/gateway.js';
import { installProblemFinalHandler } from '../../functions/src/http/frameworkErrors.js';
import { devChainKeys, reviewDraft } from '../support/auditEvents.js';
import {
  bearer,
  medicationNote,
  type startModelServers as StartModelServers,
  startModelServers,
  testConfig,
  uniqueTenant,
} from '../support/gatewayHarness.js';

/**
 * The audit outbox (core/audit/pendingAudit.ts) on the Firestore emulator: an instance that commits a
 * change and dies before its audit event reaches the sink, or whose sink write fails, leaves the event's
 * pending copy, and the scheduled sweep (POST /jobs/sweep-review-outbox) of another instance emits it, so
 * the chain verifies complete. An event emitted twice (emitted, then the copy not deleted) is one event.
 */

type Models = Awaited<ReturnType<typeof StartModelServers>>;

/** How the dying instance's sink behaves: writes, never finishes (the process is killed), or fails. */
type SinkMode = 'write' | 'hang' | 'throw';

describe('the audit outbox: a committed event is never lost to a crash or a failed sink write (emulator)', () => {
  let models: Models;
  const firestore = new Firestore({
    projectId: process.env.GOOGLE_CLOUD_PROJECT ?? 'demo-clinical-gateway-test',
    ignoreUndefinedProperties: true,
  });
  const auditFile = join(mkdtempSync(join(tmpdir(), 'audit-outbox-')), 'audit.jsonl');
  const fileSink = new LoggingAuditSink({ project: 'test', toStdout: false, file: auditFile });
  const source = new LocalAuditEventSource(auditFile);
  const tenant = uniqueTenant();
  const started = new Date();
  const gateways: Gateway[] = [];
  const logLines: string[] = [];

  let mode: SinkMode = 'write';
  /** Each event the dying instance's sink was handed (the commit has applied by then). */
  let reached: (event: AuditEvent) => void = () => undefined;
  const dyingSink: AuditSink = {
    write: (event) => {
      reached(event);
      if (mode === 'hang') return new Promise<void>(() => undefined);
      if (mode === 'throw') return Promise.reject(new Error('sink unavailable'));
      return fileSink.write(event);
    },
  };
  const nextEvent = () => new Promise<AuditEvent>((resolve) => (reached = resolve));

  let instance: ReturnType<typeof supertest>;
  let quickInstance: ReturnType<typeof supertest>;
  let jobs: ReturnType<typeof supertest>;
  let serviceToken: string;

  const register = (name: string, gateway: Gateway, pick: (g: Gateway) => Parameters<typeof http>[1]) => {
    const fn = `${name}-${randomUUID().slice(0, 8)}`;
    http(fn, pick(gateway));
    return supertest(getTestServer(fn));
  };
  const post = (api: ReturnType<typeof supertest>) =>
    api
      .post('/v1/inferences')
      .set('Authorization', bearer(tenant, 'clinician', 'alice'))
      .set('Content-Type', 'application/json')
      .set('Idempotency-Key', randomUUID())
      .send(JSON.stringify({ task: 'medication-extraction', input: { text: medicationNote } }));
  const sweep = async () => {
    const res = await jobs.post('/jobs/sweep-review-outbox').set('Authorization', serviceToken);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body as {
      delivered: number;
      failed: number;
      resent: number;
      auditReemitted: number;
      claimsAbandoned: number;
    };
  };
  const pendingCopy = (eventId: string) => firestore.collection(collections.auditPending).doc(eventId).get();
  const chainOf = async (inferenceId: string) =>
    verifyChains(source.eventsOfInference(inferenceId), devChainKeys);
  const completeness = () =>
    checkCompleteness(
      new FirestoreDecisionLedger(firestore, 50),
      source,
      { from: new Date(started.getTime() - 60_000), to: new Date(Date.now() + 60_000) },
      { tenant },
    );
  const eventsInFile = async (eventId: string) => {
    const found: unknown[] = [];
    for await (const r of source.chains({ kind: 'all' }))
      if (r.ok && r.event.eventId === eventId) found.push(r);
    return found.length;
  };

  before(async () => {
    installProblemFinalHandler();
    models = await startModelServers();
    const admitAll = {
      admit: async () => ({ allowed: true as const, state: 'closed' as const, probe: false }),
      recordOutcome: () => undefined,
    };
    // The instance that dies: it never gets to delete a pending copy on its own (its batch waits a minute).
    const dying = createGateway(testConfig(models, { AUDIT_PENDING_RELEASE_MS: '60000' }), {
      firestore,
      audit: dyingSink,
      breakers: admitAll,
      logWriter: (line) => logLines.push(line),
    });
    // A healthy instance whose emitted events' copies go in its next batch, a tenth of a second later.
    const quick = createGateway(testConfig(models, { AUDIT_PENDING_RELEASE_MS: '100' }), {
      firestore,
      audit: fileSink,
      breakers: admitAll,
      logWriter: () => undefined,
    });
    // The instance Cloud Scheduler's sweep reaches, a grace later. Nothing else of the sweep is under test:
    // review requests are accepted as published, and none is old enough to be re-sent.
    const accepting: ReviewPublisher = {
      requestReview: async () => undefined,
      escalate: async () => undefined,
      publishEvent: async () => undefined,
    };
    const sweeperConfig = testConfig(models, {
      AUDIT_PENDING_GRACE_SECONDS: '60',
      REVIEW_INTAKE_GRACE_SECONDS: '86400',
    });
    const sweeper = createGateway(sweeperConfig, {
      firestore,
      audit: fileSink,
      breakers: admitAll,
      reviewPublisher: accepting,
      clock: () => Date.now() + 61_000,
      logWriter: () => undefined,
    });
    gateways.push(dying, quick, sweeper);
    instance = register('inferenceApi', dying, (g) => g.inferenceApi);
    quickInstance = register('inferenceApi', quick, (g) => g.inferenceApi);
    jobs = register('reviewJobs', sweeper, (g) => g.reviewJobs);
    serviceToken = `Bearer ${devOidcToken(sweeperConfig.tasks.serviceAccount)}`;
  });
  after(async () => {
    for (const g of gateways) await g.close();
    await fileSink.close();
    await firestore.terminate();
    await models?.close();
  });

  it('killed between commit and emit: the sweep emits the event, and the chain verifies complete', async () => {
    mode = 'hang';
    const emitting = nextEvent();
    const request = post(instance);
    request.end(() => undefined);
    // The sink is handed the event only once the commit has applied; then the process "dies".
    const event = await emitting;
    request.abort();
    mode = 'write';
    assert.equal(event.sequence, 1);
    assert.ok((await pendingCopy(event.eventId)).exists, 'the commit stored the pending copy');

    // As the defect was: the ledger's chain head names an event that exists nowhere.
    const before = await completeness();
    assert.deepEqual(before.incomplete.find((d) => d.inferenceId === event.inferenceId)?.missing, [
      { kind: 'event', eventType: 'inference.completed' },
      { kind: 'sequence', from: 1, to: 1 },
    ]);

    assert.ok((await sweep()).auditReemitted >= 1);
    assert.equal((await pendingCopy(event.eventId)).exists, false);
    const chain = await chainOf(event.inferenceId!);
    assert.deepEqual(chain.problems, []);
    assert.equal(chain.chains, 1);
    assert.deepEqual(await collectEventIds(source, event.inferenceId!), [event.eventId]);
    const after = await completeness();
    assert.equal(
      after.incomplete.find((d) => d.inferenceId === event.inferenceId),
      undefined,
    );
  });

  it('a failed sink write is alerted as before, and repaired by the sweep', async () => {
    mode = 'throw';
    const emitting = nextEvent();
    const res = await post(instance);
    mode = 'write';
    // The answer stands: the change committed.
    assert.equal(res.status, 200);
    const event = await emitting;
    assert.ok(
      logLines.some((l) => l.includes(AUDIT_WRITE_FAILED) && l.includes(event.eventId)),
      'the alert line is still written',
    );
    assert.equal(await eventsInFile(event.eventId), 0);

    assert.ok((await sweep()).auditReemitted >= 1);
    assert.equal(await eventsInFile(event.eventId), 1);
    assert.deepEqual((await chainOf(event.inferenceId!)).problems, []);
    assert.equal((await pendingCopy(event.eventId)).exists, false);
  });

  it('emitted, then killed before the copy was deleted: the re-emitted duplicate counts as one event', async () => {
    mode = 'write';
    const emitting = nextEvent();
    assert.equal((await post(instance)).status, 200);
    const event = await emitting;
    assert.equal(await eventsInFile(event.eventId), 1);
    // This instance's deletion batch is a minute away: as if it had died first.
    assert.ok((await pendingCopy(event.eventId)).exists);

    assert.ok((await sweep()).auditReemitted >= 1);
    assert.equal(await eventsInFile(event.eventId), 2);
    const chain = await chainOf(event.inferenceId!);
    assert.deepEqual(chain.problems, []);
    assert.equal(chain.duplicatesIgnored, 1);
    const report = await completeness();
    assert.equal(
      report.incomplete.find((d) => d.inferenceId === event.inferenceId),
      undefined,
    );
  });

  it('after a normal emit the pending copy is deleted, in the instance’s next batch', async () => {
    const res = await post(quickInstance);
    assert.equal(res.status, 200);
    const inferenceId = res.body.id as string;
    const eventId = (await collectEventIds(source, inferenceId))[0]!;
    // Deleted off the request path: awaited through a listener, not a sleep.
    await new Promise<void>((resolve) => {
      const stop = firestore
        .collection(collections.auditPending)
        .doc(eventId)
        .onSnapshot((snap) => {
          if (snap.exists) return;
          stop();
          resolve();
        });
    });
    assert.equal((await pendingCopy(eventId)).exists, false);
  });

  it('a claim nobody finished or retried is ended by the sweep, with its abandonment event', async () => {
    // The holder claimed the key two minutes ago with a 30 s lease, called a provider, and died.
    const ledger = new FirestoreLedgerStore(firestore);
    const recordId = `lapsed-${randomUUID()}`;
    const inferenceId = `inf_lapsed_${randomUUID().slice(0, 8)}`;
    const claimedAt = new Date(Date.now() - 120_000);
    await ledger.create(recordId, {
      state: 'in_progress',
      tenant,
      fingerprint: 'fp',
      ownerToken: 'dead-holder',
      inferenceId,
      createdAt: claimedAt,
      expiresAt: new Date(claimedAt.getTime() + 86_400_000),
      leaseExpiresAt: new Date(claimedAt.getTime() + 30_000),
      requester: {
        subject: 'alice',
        task: 'medication-extraction',
        patientRef: 'pat-9',
        encounterRef: null,
        trace: null,
      },
    });
    assert.ok((await sweep()).claimsAbandoned >= 1);
    assert.equal(await ledger.get(recordId), null, 'the lapsed claim is gone: a retry runs anew');
    const events: AuditEvent[] = [];
    for await (const r of source.eventsOfInference(inferenceId)) if (r.ok) events.push(r.event as AuditEvent);
    assert.deepEqual(
      events.map((e) => [e.eventType, e.decision?.failureReason, e.actor.subject, e.patientRef, e.sequence]),
      [['inference.failed', 'abandoned', 'alice', 'pat-9', null]],
    );
    const report = await chainOf(inferenceId);
    assert.deepEqual(report.problems, []);
    assert.equal(report.standalone, 1);
    // Ended once: a second sweep ends nothing more (its repair may emit the same event again before the
    // copy's batched deletion, an identical duplicate that counts once).
    await sweep();
    assert.deepEqual([...new Set(await collectEventIds(source, inferenceId))], [events[0]!.eventId]);
  });

  it('a review change stores its event’s pending copy in its own transaction', async () => {
    const inferenceId = `inf_${randomUUID().replaceAll('-', '')}`;
    const event = sealEvent(reviewDraft(inferenceId, 'claimed', { tenant }), null, DEV_CHAIN_KEY);
    const written: AuditEvent[] = [];
    // No releaser: the copy stays, as when the instance dies right after the commit.
    const trail = new AuditTrail({
      sink: { write: async (e) => void written.push(e) },
      key: DEV_CHAIN_KEY,
      heads: { readHead: async () => null },
      warn: () => undefined,
    });
    const result = await commitReviewChange(
      new FirestoreReviewStore(firestore),
      trail,
      { inferenceId, reviewId: `rev_${randomUUID().replaceAll('-', '')}` },
      () => ({ writes: { outbox: [] }, event, result: 'done' }),
    );
    assert.equal(result, 'done');
    assert.deepEqual(written, [event]);
    const copy = await pendingCopy(event.eventId);
    assert.equal(copy.get('eventJson'), JSON.stringify(event));
    assert.equal(copy.get('inferenceId'), inferenceId);
    assert.equal(copy.get('tenant'), tenant);
    await firestore.collection(collections.auditPending).doc(event.eventId).delete();
  });
});

async function collectEventIds(source: LocalAuditEventSource, inferenceId: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const r of source.eventsOfInference(inferenceId)) if (r.ok) ids.push(String(r.event.eventId));
  return ids;
}
