import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { PendingAuditStore } from '../../functions/src/core/audit/pendingAudit.js';
import { isGatewayError } from '../../functions/src/core/errors.js';
import type { LapsedClaimStore } from '../../functions/src/core/idempotency/lapsedClaims.js';
import type { Claim, LedgerRecord, LedgerStore } from '../../functions/src/core/idempotency/ledger.js';
import type { InferenceRecord, InferenceStore } from '../../functions/src/core/inference/inference.js';
import { type OutboxEntry, type OutboxStore, outboxEntry } from '../../functions/src/core/review/outbox.js';
import type { ReviewEventMessage } from '../../functions/src/core/review/reviewEvents.js';
import type { ReviewItem } from '../../functions/src/core/review/reviewItem.js';
import type { ReviewStore } from '../../functions/src/core/review/reviewStore.js';
import { chain, draft } from './auditEvents.js';

/**
 * The contract of the stores the core uses, as one suite run against every implementation: the Firestore
 * adapters on the emulator and the in-memory stores the unit tests use (test/integration/storeContract.test.ts).
 * A rule test over the memory stores proves something about production only while both pass this suite.
 *
 * `open` gives each test a fresh, empty world whose four stores share one database, as the adapters share
 * one Firestore project.
 */

export type StoreWorld = {
  ledger: LedgerStore & LapsedClaimStore;
  inferences: InferenceStore;
  outbox: OutboxStore;
  reviews: ReviewStore;
  pending: PendingAuditStore;
  close(): Promise<void>;
};

export type StoreBackend = { name: string; open(): Promise<StoreWorld> };

const t0 = new Date('2026-11-27T09:00:00.000Z');
const at = (ms: number) => new Date(t0.getTime() + ms);

function inProgress(fields: Partial<LedgerRecord> = {}): LedgerRecord {
  return {
    state: 'in_progress',
    tenant: 'acme',
    fingerprint: 'fp-1',
    ownerToken: 'owner-1',
    inferenceId: 'inf_1',
    createdAt: t0,
    expiresAt: at(86_400_000),
    leaseExpiresAt: at(30_000),
    ...fields,
  } as LedgerRecord;
}

/** The completion event of `inf`, as the inference service seals it (its pending copy rides the commit). */
const completionEvent = (inf: InferenceRecord) =>
  chain(draft({ inferenceId: inf.id, eventId: `evt-${inf.id}` }))[0]!;

/** The ids of every pending audit copy in the world. */
const pendingIds = async (w: StoreWorld) =>
  (await w.pending.listOlderThan(new Date(Date.now() + 3_600_000), 100, null)).map((p) => p.eventId);

function completed(from: LedgerRecord, body = '{"id":"inf_1"}'): LedgerRecord {
  const { leaseExpiresAt: _, ...rest } = from as LedgerRecord & { leaseExpiresAt?: Date };
  return { ...rest, state: 'completed', completedAt: at(1_000), response: { status: 200, body } };
}

function inference(id: string, fields: Partial<InferenceRecord> = {}): InferenceRecord {
  return {
    id,
    ledgerRecordId: `rec-${id}`,
    tenant: 'acme',
    requestedBy: 'alice',
    task: 'icd10-suggestion',
    status: 'pending_review',
    input: { text: 'hypertension' },
    patientRef: null,
    encounterRef: 'enc-1',
    callbackUrl: null,
    output: null,
    // Nested arrays: a shape Firestore cannot hold as fields, so the adapters store outputs as JSON text.
    proposal: {
      codes: [{ code: 'I10', description: 'Essential hypertension', evidence: 'BP' }],
      m: [[1, 2]],
    },
    confidence: 0.41,
    threshold: 0.8,
    scorerVersion: 's1',
    scoreBasis: 'logprobs',
    sampledForReview: false,
    provider: 'local-a',
    model: 'm1',
    promptTemplateVersion: 'p1',
    promptHash: 'h',
    attempts: [
      { provider: 'local-a', model: 'm1', breakerState: 'closed', outcome: 'success', latencyMs: 12 },
    ],
    review: null,
    createdAt: t0,
    completedAt: null,
    auditHead: { sequence: 1, hash: 'h1', eventId: randomUUID() },
    ...fields,
  };
}

function item(id: string, fields: Partial<ReviewItem> = {}): ReviewItem {
  return {
    id,
    inferenceId: `inf_${id.slice(4)}`,
    tenant: 'acme',
    task: 'icd10-suggestion',
    input: { text: 'hypertension' },
    proposal: { codes: [], m: [[1]] },
    confidence: 0.41,
    threshold: 0.8,
    scoreBasis: 'logprobs',
    sampled: false,
    provider: 'local-a',
    model: 'm1',
    state: 'pending',
    claimedBy: null,
    leaseExpiresAt: null,
    createdAt: t0,
    enqueuedAt: at(100),
    dueAt: at(3_600_000),
    escalatedAt: null,
    decision: null,
    ...fields,
  };
}

function eventEntry(reviewId: string, sequence: number, createdAt: Date): OutboxEntry {
  const message: ReviewEventMessage = {
    schemaVersion: 1,
    eventId: randomUUID(),
    eventType: 'review.claimed',
    occurredAt: createdAt.toISOString(),
    reviewId,
    inferenceId: `inf_${reviewId.slice(4)}`,
    tenant: 'acme',
    task: 'icd10-suggestion',
    state: 'claimed',
    sequence,
    dueAt: at(3_600_000).toISOString(),
    escalated: false,
    sampled: false,
    reviewer: 'rita',
    action: null,
    reasonCode: null,
  };
  return outboxEntry.reviewEvent(message, createdAt);
}

const claimOf = (recordId: string, record: LedgerRecord, version: unknown): Claim => ({
  recordId,
  version,
  tenant: record.tenant,
  ownerToken: record.ownerToken,
  inferenceId: record.inferenceId,
  fingerprint: record.fingerprint,
  createdAt: record.createdAt,
  leaseExpiresAt: at(30_000),
  expiresAt: record.expiresAt,
});

export function describeStoreContract(backend: StoreBackend): void {
  describe(`store contract: ${backend.name}`, () => {
    let w: StoreWorld;
    beforeEach(async () => {
      w = await backend.open();
    });
    afterEach(async () => {
      await w?.close();
    });

    describe('LedgerStore', () => {
      it('creates a record only where none exists, and reads it back as written', async () => {
        assert.equal(await w.ledger.get('k1'), null);
        assert.ok(await w.ledger.create('k1', inProgress()));
        assert.equal(await w.ledger.create('k1', inProgress({ ownerToken: 'owner-2' })), null);
        assert.deepEqual((await w.ledger.get('k1'))?.value, inProgress());
      });

      it('gives creates and reads made at the same moment each their own answer; one create of a key wins', async () => {
        assert.ok(await w.ledger.create('taken', inProgress({ ownerToken: 'owner-0' })));
        const owners = ['owner-1', 'owner-2'];
        const [fresh, first, second, existing] = await Promise.all([
          Promise.all(['a', 'b', 'c'].map((id) => w.ledger.create(id, inProgress({ ownerToken: id })))),
          w.ledger.create('both', inProgress({ ownerToken: owners[0] })),
          w.ledger.create('both', inProgress({ ownerToken: owners[1] })),
          w.ledger.create('taken', inProgress({ ownerToken: 'owner-3' })),
        ]);
        assert.ok(fresh.every((created) => created !== null));
        assert.equal(existing, null);
        assert.equal([first, second].filter((created) => created !== null).length, 1);
        const reads = await Promise.all(
          ['a', 'b', 'c', 'both', 'taken', 'absent'].map((id) => w.ledger.get(id)),
        );
        assert.deepEqual(
          reads.map((read) => read?.value.ownerToken ?? null),
          ['a', 'b', 'c', first ? owners[0] : owners[1], 'owner-0', null],
        );
      });

      it('replaces only at the version it was given (from create or from get), never a stale one', async () => {
        const created = await w.ledger.create('k1', inProgress());
        const second = await w.ledger.replace('k1', inProgress({ ownerToken: 'owner-2' }), created!.version);
        assert.ok(second, 'replace at the version create gave');
        assert.equal(
          await w.ledger.replace('k1', inProgress({ ownerToken: 'owner-3' }), created!.version),
          null,
        );
        const read = await w.ledger.get('k1');
        assert.equal(read?.value.ownerToken, 'owner-2');
        assert.ok(await w.ledger.replace('k1', inProgress({ ownerToken: 'owner-4' }), read!.version));
        assert.equal((await w.ledger.get('k1'))?.value.ownerToken, 'owner-4');
      });

      it('a replace turns the record into exactly the new one (no field of the old state left)', async () => {
        const requester = { subject: 'alice', task: 't', patientRef: 'p', encounterRef: null, trace: null };
        const created = await w.ledger.create('k1', inProgress({ requester }));
        assert.deepEqual((await w.ledger.get('k1'))?.value, inProgress({ requester }));
        const done = completed(inProgress());
        assert.ok(await w.ledger.replace('k1', done, created!.version));
        assert.deepEqual((await w.ledger.get('k1'))?.value, done);
        const read = await w.ledger.get('k1');
        assert.ok(await w.ledger.replace('k1', inProgress({ ownerToken: 'owner-2' }), read!.version));
        assert.deepEqual((await w.ledger.get('k1'))?.value, inProgress({ ownerToken: 'owner-2' }));
      });

      it('a deleted and recreated record does not take a replace at its old version', async () => {
        const created = await w.ledger.create('k1', inProgress());
        assert.equal(await w.ledger.deleteIfOwner('k1', 'owner-1'), true);
        assert.equal(await w.ledger.replace('k1', inProgress({ ownerToken: 'x' }), created!.version), null);
        assert.equal(await w.ledger.get('k1'), null);
        assert.ok(await w.ledger.create('k1', inProgress({ ownerToken: 'owner-2' })));
        assert.equal(await w.ledger.replace('k1', inProgress({ ownerToken: 'x' }), created!.version), null);
        assert.equal((await w.ledger.get('k1'))?.value.ownerToken, 'owner-2');
      });

      it('deletes only an unfinished record, and only for its owner', async () => {
        const created = await w.ledger.create('k1', inProgress());
        assert.equal(await w.ledger.deleteIfOwner('k1', 'someone-else'), false);
        assert.equal(await w.ledger.deleteIfOwner('absent', 'owner-1'), false);
        assert.ok(await w.ledger.replace('k1', completed(inProgress()), created!.version));
        assert.equal(await w.ledger.deleteIfOwner('k1', 'owner-1'), false, 'a completed record is kept');
        assert.equal((await w.ledger.get('k1'))?.value.state, 'completed');
      });

      it("a replace commits a lapsed claim's abandonment event with it, and nothing when it is refused", async () => {
        const created = await w.ledger.create('k1', inProgress());
        const refused = chain(draft({ eventId: 'evt-refused' }))[0]!;
        const taken = chain(draft({ eventId: 'evt-taken' }))[0]!;
        assert.ok(
          await w.ledger.replace('k1', inProgress({ ownerToken: 'owner-2' }), created!.version, taken),
        );
        const stale = await w.ledger.replace(
          'k1',
          inProgress({ ownerToken: 'x' }),
          created!.version,
          refused,
        );
        assert.equal(stale, null);
        assert.deepEqual(await pendingIds(w), ['evt-taken']);
      });

      it('lists records in progress whose lease ran out before a time, oldest lease first, never a finished one', async () => {
        await w.ledger.create('late', inProgress({ leaseExpiresAt: at(20_000), inferenceId: 'inf_late' }));
        await w.ledger.create('early', inProgress({ leaseExpiresAt: at(10_000), inferenceId: 'inf_early' }));
        await w.ledger.create('live', inProgress({ leaseExpiresAt: at(90_000) }));
        const done = await w.ledger.create('done', inProgress({ leaseExpiresAt: at(5_000) }));
        await w.ledger.replace('done', completed(inProgress()), done!.version);
        const lapsed = await w.ledger.listLapsed(at(60_000), 10);
        assert.deepEqual(
          lapsed.map((r) => [r.id, r.value.inferenceId]),
          [
            ['early', 'inf_early'],
            ['late', 'inf_late'],
          ],
        );
        assert.deepEqual(lapsed[0]!.version, (await w.ledger.get('early'))!.version);
        assert.deepEqual(
          (await w.ledger.listLapsed(at(60_000), 1)).map((r) => r.id),
          ['early'],
        );
      });

      it('ends a lapsed record only at its version, with its event’s pending copy in the same write', async () => {
        const created = await w.ledger.create('k1', inProgress());
        const event = chain(draft({ eventId: 'evt-abandoned' }))[0]!;
        const read = await w.ledger.get('k1');
        assert.ok(await w.ledger.replace('k1', inProgress({ ownerToken: 'owner-2' }), created!.version));
        assert.equal(await w.ledger.endLapsed('k1', created!.version, event), false, 'changed since');
        assert.deepEqual(await pendingIds(w), []);
        assert.notEqual(await w.ledger.get('k1'), null);
        const current = await w.ledger.get('k1');
        assert.notDeepEqual(current!.version, read!.version);
        assert.equal(await w.ledger.endLapsed('k1', current!.version, event), true);
        assert.equal(await w.ledger.get('k1'), null);
        assert.deepEqual(await pendingIds(w), ['evt-abandoned']);
      });
    });

    describe('InferenceStore.commitCompletion', () => {
      async function claimed(recordId = 'k1') {
        const record = inProgress();
        const created = await w.ledger.create(recordId, record);
        return { record, claim: claimOf(recordId, record, created!.version) };
      }

      it('completes the record, creates the inference and its review request, all readable', async () => {
        const { record, claim } = await claimed();
        const inf = inference('inf_1');
        const request = outboxEntry.reviewRequest(inf, at(2_000));
        const done = completed(record);
        await w.inferences.commitCompletion({
          claim,
          ledgerRecord: done,
          inference: inf,
          reviewRequest: request,
          auditEvent: completionEvent(inf),
        });
        assert.deepEqual((await w.ledger.get('k1'))?.value, done);
        assert.deepEqual(await w.inferences.getInference('inf_1'), inf);
        assert.deepEqual(await w.inferences.readHead('inf_1'), inf.auditHead);
        assert.deepEqual(await w.outbox.listUndelivered(at(2_000), 10), [request]);
        assert.deepEqual(await pendingIds(w), [completionEvent(inf).eventId], "the event's pending copy");
      });

      it('refuses (LeaseLostError) once the claim was taken over, and writes none of it', async () => {
        const { record, claim } = await claimed();
        assert.ok(await w.ledger.replace('k1', inProgress({ ownerToken: 'taker' }), claim.version));
        const inf = inference('inf_1');
        await assert.rejects(
          w.inferences.commitCompletion({
            claim,
            ledgerRecord: completed(record),
            inference: inf,
            reviewRequest: outboxEntry.reviewRequest(inf, t0),
            auditEvent: completionEvent(inf),
          }),
          (e: unknown) => isGatewayError(e, 'lease_lost'),
        );
        assert.deepEqual((await w.ledger.get('k1'))?.value, inProgress({ ownerToken: 'taker' }));
        assert.equal(await w.inferences.getInference('inf_1'), null);
        assert.deepEqual(await w.outbox.listUndelivered(at(1), 10), []);
        assert.deepEqual(await pendingIds(w), [], 'no pending copy of an event whose change did not commit');
      });

      it('completions committed at the same moment each get their own outcome; a lost lease fails only its own', async () => {
        const ids = ['k1', 'k2', 'k3'];
        const claims = [];
        for (const id of ids) claims.push(await claimed(id));
        assert.ok(
          await w.ledger.replace('k2', inProgress({ ownerToken: 'taker' }), claims[1]!.claim.version),
        );
        const infs = ids.map((id) => inference(`inf_${id}`));
        const outcomes = await Promise.allSettled(
          claims.map(({ record, claim }, i) =>
            w.inferences.commitCompletion({
              claim,
              ledgerRecord: completed(record),
              inference: infs[i]!,
              reviewRequest: null,
              auditEvent: completionEvent(infs[i]!),
            }),
          ),
        );
        assert.deepEqual(
          outcomes.map((o) =>
            o.status === 'fulfilled' ? 'completed' : isGatewayError(o.reason, 'lease_lost'),
          ),
          ['completed', true, 'completed'],
        );
        assert.deepEqual(
          (await Promise.all(ids.map((id) => w.ledger.get(id)))).map((r) => r?.value.state),
          ['completed', 'in_progress', 'completed'],
        );
        assert.equal((await w.ledger.get('k2'))?.value.ownerToken, 'taker');
        assert.deepEqual(
          (await Promise.all(infs.map((inf) => w.inferences.getInference(inf.id)))).map((i) => i?.id ?? null),
          ['inf_k1', null, 'inf_k3'],
        );
        assert.deepEqual((await pendingIds(w)).sort(), ['evt-inf_k1', 'evt-inf_k3']);
      });

      it('refuses (LeaseLostError) once the claim was released', async () => {
        const { record, claim } = await claimed();
        assert.equal(await w.ledger.deleteIfOwner('k1', record.ownerToken), true);
        await assert.rejects(
          w.inferences.commitCompletion({
            claim,
            ledgerRecord: completed(record),
            inference: inference('inf_1'),
            reviewRequest: null,
            auditEvent: completionEvent(inference('inf_1')),
          }),
          (e: unknown) => isGatewayError(e, 'lease_lost'),
        );
        assert.equal(await w.ledger.get('k1'), null);
        assert.equal(await w.inferences.getInference('inf_1'), null);
      });

      it('creates, never overwrites: an existing inference fails the whole batch', async () => {
        const first = await claimed('k1');
        await w.inferences.commitCompletion({
          claim: first.claim,
          ledgerRecord: completed(first.record),
          inference: inference('inf_1'),
          reviewRequest: null,
          auditEvent: completionEvent(inference('inf_1')),
        });
        const second = await claimed('k2');
        await assert.rejects(
          w.inferences.commitCompletion({
            claim: second.claim,
            ledgerRecord: completed(second.record),
            inference: inference('inf_1', { requestedBy: 'mallory' }),
            reviewRequest: null,
            auditEvent: chain(draft({ inferenceId: 'inf_1', eventId: 'evt-second' }))[0]!,
          }),
        );
        assert.equal((await w.ledger.get('k2'))?.value.state, 'in_progress');
        assert.equal((await w.inferences.getInference('inf_1'))?.requestedBy, 'alice');
      });

      it('reads an unknown inference and its head as null', async () => {
        assert.equal(await w.inferences.getInference('inf_none'), null);
        assert.equal(await w.inferences.readHead('inf_none'), null);
      });
    });

    describe('OutboxStore', () => {
      /** Writes entries the way the core does: with a change, through the review store. */
      async function written(...entries: OutboxEntry[]) {
        await w.reviews.transact({ inferenceId: 'inf_o', reviewId: 'rev_o' }, () => ({
          writes: { outbox: entries },
          result: null,
        }));
      }

      it('lists undelivered entries up to a time, oldest first, at most `limit`', async () => {
        const a = outboxEntry.reviewRequest({ id: 'inf_a', tenant: 'acme', task: 'icd10-suggestion' }, at(3));
        const b = outboxEntry.reviewRequest({ id: 'inf_b', tenant: 'acme', task: 'icd10-suggestion' }, at(1));
        const c = outboxEntry.reviewRequest({ id: 'inf_c', tenant: 'acme', task: 'icd10-suggestion' }, at(2));
        const late = outboxEntry.reviewRequest(
          { id: 'inf_d', tenant: 'acme', task: 'icd10-suggestion' },
          at(9),
        );
        await written(a, b, c, late);
        assert.deepEqual(await w.outbox.listUndelivered(at(3), 10), [b, c, a]);
        assert.deepEqual(await w.outbox.listUndelivered(at(3), 2), [b, c]);
      });

      it('keeps every kind of entry as written', async () => {
        const rev = item('rev_k');
        const entries = [
          outboxEntry.escalation(rev, at(1)),
          outboxEntry.callback(rev, 'https://example.org/hook', at(2)),
          eventEntry('rev_k', 2, at(3)),
        ];
        await written(...entries);
        assert.deepEqual(await w.outbox.listUndelivered(at(3), 10), entries);
      });

      it('a delivered entry is listed no more; a failed one stays', async () => {
        const a = outboxEntry.reviewRequest({ id: 'inf_a', tenant: 'acme', task: 'icd10-suggestion' }, at(1));
        const b = outboxEntry.reviewRequest({ id: 'inf_b', tenant: 'acme', task: 'icd10-suggestion' }, at(2));
        await written(a, b);
        await w.outbox.markDelivered(a.id, at(5));
        await w.outbox.recordFailure(b.id, at(5), 'dependency_unavailable');
        await w.outbox.recordFailure(b.id, at(6), 'dependency_unavailable');
        assert.deepEqual(await w.outbox.listUndelivered(at(10), 10), [b]);
      });

      it('marking an entry that does not exist fails', async () => {
        await assert.rejects(w.outbox.markDelivered('nothing-here', at(1)));
      });

      it("lists an item's undelivered review events, and nothing else", async () => {
        const one = eventEntry('rev_1', 2, at(1));
        const two = eventEntry('rev_1', 3, at(2));
        const other = eventEntry('rev_2', 2, at(1));
        const escalation = outboxEntry.escalation(item('rev_1'), at(1));
        await written(one, two, other, escalation);
        await w.outbox.markDelivered(one.id, at(3));
        assert.deepEqual(await w.outbox.undeliveredEventsOf('rev_1'), [two]);
      });
    });

    describe('ReviewStore.transact', () => {
      const ids = { inferenceId: 'inf_1', reviewId: 'rev_1' };

      it('shows the change nothing where nothing exists, and writes item, inference and outbox at once', async () => {
        const inf = inference('inf_1');
        const entry = eventEntry('rev_1', 2, at(1));
        const seen = await w.reviews.transact(ids, (current) => ({
          writes: { item: item('rev_1'), inference: inf, outbox: [entry] },
          result: current,
        }));
        assert.deepEqual(seen, { inference: null, item: null });
        assert.deepEqual(await w.reviews.getItem('rev_1'), item('rev_1'));
        assert.deepEqual(await w.inferences.getInference('inf_1'), inf);
        assert.deepEqual(await w.outbox.listUndelivered(at(1), 10), [entry]);
        const next = await w.reviews.transact(ids, (current) => ({ writes: null, result: current }));
        assert.deepEqual(next, { inference: inf, item: item('rev_1') });
      });

      it('replaces an item it read', async () => {
        await w.reviews.transact(ids, () => ({ writes: { item: item('rev_1') }, result: null }));
        const claimed = item('rev_1', { state: 'claimed', claimedBy: 'rita', leaseExpiresAt: at(600_000) });
        await w.reviews.transact(ids, () => ({ writes: { item: claimed }, result: null }));
        assert.deepEqual(await w.reviews.getItem('rev_1'), claimed);
      });

      it('writes nothing when the change throws, and passes its error on unchanged', async () => {
        const refusal = new Error('refused by the rules');
        await assert.rejects(
          w.reviews.transact(ids, () => {
            throw refusal;
          }),
          (e: unknown) => e === refusal,
        );
        assert.equal(await w.reviews.getItem('rev_1'), null);
      });

      it('two changes that each create the item if absent: one creates it, the other sees it', async () => {
        const createOnce = (by: string) =>
          w.reviews.transact(ids, (current) =>
            current.item
              ? { writes: null, result: `saw ${current.item.claimedBy}` }
              : { writes: { item: item('rev_1', { claimedBy: by }) }, result: `created ${by}` },
          );
        const outcomes = await Promise.all([createOnce('one'), createOnce('two')]);
        const creator = (await w.reviews.getItem('rev_1'))?.claimedBy;
        assert.deepEqual(outcomes.sort(), [`created ${creator}`, `saw ${creator}`].sort());
      });

      it("rewrites a replay's stored body only while the record still answers that inference", async () => {
        const mine = await w.ledger.create('k-mine', completed(inProgress({ inferenceId: 'inf_1' }), 'old'));
        await w.ledger.create('k-other', completed(inProgress({ inferenceId: 'inf_9' }), 'other'));
        await w.ledger.create('k-open', inProgress({ inferenceId: 'inf_1' }));
        assert.ok(mine);
        for (const ledgerRecordId of ['k-mine', 'k-other', 'k-open', 'k-absent']) {
          await w.reviews.transact(ids, () => ({
            writes: { replay: { ledgerRecordId, inferenceId: 'inf_1', body: 'new' } },
            result: null,
          }));
        }
        const body = async (id: string) => {
          const v = (await w.ledger.get(id))?.value;
          return v?.state === 'completed' ? v.response.body : v?.state;
        };
        assert.deepEqual(
          [await body('k-mine'), await body('k-other'), await body('k-open'), await body('k-absent')],
          ['new', 'other', 'in_progress', undefined],
        );
      });

      it("lists a tenant's items in the given states, oldest first (then by id), after a cursor", async () => {
        const items = [
          item('rev_c', { createdAt: at(2) }),
          item('rev_a', { createdAt: at(1) }),
          item('rev_b', { createdAt: at(2), state: 'claimed', claimedBy: 'rita' }),
          item('rev_d', { createdAt: at(3), state: 'approved' }),
          item('rev_e', { createdAt: at(0), tenant: 'other' }),
        ];
        for (const it of items) {
          await w.reviews.transact({ inferenceId: it.inferenceId, reviewId: it.id }, () => ({
            writes: { item: it },
            result: null,
          }));
        }
        const ids = async (q: Partial<Parameters<ReviewStore['listItems']>[0]>) =>
          (
            await w.reviews.listItems({
              tenant: 'acme',
              states: ['pending', 'claimed'],
              limit: 10,
              after: null,
              ...q,
            })
          ).map((i) => i.id);
        assert.deepEqual(await ids({}), ['rev_a', 'rev_b', 'rev_c']);
        assert.deepEqual(await ids({ states: ['pending'] }), ['rev_a', 'rev_c']);
        assert.deepEqual(await ids({ limit: 2 }), ['rev_a', 'rev_b']);
        assert.deepEqual(await ids({ after: { createdAt: at(2), id: 'rev_b' } }), ['rev_c']);
        assert.deepEqual(await ids({ tenant: 'other' }), ['rev_e']);
      });
    });
  });
}
