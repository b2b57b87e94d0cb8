import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { AuditRecord } from '../../functions/src/core/audit/auditQuery.js';
import { type ChainKey, DEV_CHAIN_KEY, hashEvent, sealEvent } from '../../functions/src/core/audit/chain.js';
import {
  type ChainProblem,
  isUngroupedSourceError,
  verifyChains,
} from '../../functions/src/core/audit/chainVerifier.js';
import type { AuditEvent } from '../../functions/src/core/audit/events.js';
import { breakerEvent, chain, devChainKeys, draft, reviewDraft } from '../support/auditEvents.js';

/** Records as a store returns them: plain JSON objects, read back from text. */
const records = (events: readonly unknown[]): AuditRecord[] =>
  events.map((e, i) => ({ ok: true, event: JSON.parse(JSON.stringify(e)), origin: `line ${i + 1}` }));

/** A four-event chain: decision, enqueued, claimed, decided. */
function fourEvents(inferenceId = 'inf_a'): AuditEvent[] {
  return chain(
    draft({ inferenceId, eventType: 'inference.routed_to_review', at: '2026-11-27T09:00:00.000Z' }),
    reviewDraft(inferenceId, 'enqueued', { at: '2026-11-27T09:00:01.000Z' }),
    reviewDraft(inferenceId, 'claimed', { at: '2026-11-27T09:05:00.000Z' }),
    reviewDraft(inferenceId, 'approve', { at: '2026-11-27T09:06:00.000Z' }),
  );
}

/** Re-seals an event after a tamperer who holds the chain key changed it: a hash that verifies. */
const resealed = (e: AuditEvent): AuditEvent => {
  const { hash: _old, ...rest } = e;
  return { ...rest, hash: hashEvent(rest, DEV_CHAIN_KEY.secret) };
};

const kinds = (problems: readonly ChainProblem[]) => problems.map((p) => p.kind).sort();

describe('audit chain verifier', () => {
  it('accepts intact chains and standalone events, in any stored order within a chain', async () => {
    const a = fourEvents('inf_a');
    const b = fourEvents('inf_b');
    // Concurrent writers append in any order: the chain's order is its sequence numbers, not line order.
    const report = await verifyChains(
      records([breakerEvent(), a[2], a[0], a[3], a[1], b[1], b[0], b[3], b[2]]),
      devChainKeys,
    );
    assert.deepEqual(report.problems, []);
    assert.equal(report.chains, 2);
    assert.equal(report.events, 9);
    assert.equal(report.standalone, 1);
  });

  it('finds a deleted event as a gap', async () => {
    const events = fourEvents();
    const report = await verifyChains(records([events[0], events[2], events[3]]), devChainKeys);
    assert.deepEqual(report.problems, [{ kind: 'gap', inferenceId: 'inf_a', missingFrom: 2, missingTo: 2 }]);
  });

  it('finds deleted events in a run, and a deleted first event', async () => {
    const events = fourEvents();
    const report = await verifyChains(records([events[3]]), devChainKeys);
    assert.deepEqual(report.problems, [{ kind: 'gap', inferenceId: 'inf_a', missingFrom: 1, missingTo: 3 }]);
  });

  it('finds an event altered in place by its hash', async () => {
    const events = fourEvents();
    const altered = structuredClone(events[3]!);
    altered.review!.action = 'reject';
    const report = await verifyChains(records([events[0], events[1], events[2], altered]), devChainKeys);
    assert.deepEqual(report.problems, [
      {
        kind: 'hash_mismatch',
        origin: 'line 4',
        inferenceId: 'inf_a',
        sequence: 4,
        eventId: events[3]!.eventId,
      },
    ]);
  });

  it('finds an altered model response even when the tamperer recomputed its hash, by the next link', async () => {
    const events = fourEvents();
    const altered = structuredClone(events[0]!);
    altered.decision!.response = { medications: [] };
    const report = await verifyChains(
      records([resealed(altered), events[1], events[2], events[3]]),
      devChainKeys,
    );
    assert.deepEqual(report.problems, [
      {
        kind: 'broken_link',
        origin: 'line 2',
        inferenceId: 'inf_a',
        sequence: 2,
        eventId: events[1]!.eventId,
      },
    ]);
  });

  it('finds a reordered pair: two events that swapped places in the chain', async () => {
    const events = fourEvents();
    const [e1, e2, e3, e4] = events.map((e) => structuredClone(e)) as [
      AuditEvent,
      AuditEvent,
      AuditEvent,
      AuditEvent,
    ];
    // Make the claim look as if it came before the enqueue.
    e2.sequence = 3;
    e3.sequence = 2;
    const report = await verifyChains(records([e1, e3, e2, e4]), devChainKeys);
    const reordered = report.problems.filter((p) => p.kind === 'reordered');
    assert.deepEqual(
      reordered.map((p) => p.kind === 'reordered' && [p.sequence, p.linksToSequence, p.eventId]),
      [
        [2, 3, e3.eventId],
        [3, 1, e2.eventId],
        // The event after the pair still points at the claim, now numbered 2.
        [4, 2, e4.eventId],
      ],
    );
    // The swapped sequence numbers are part of what the hash covers: both events are flagged as altered.
    assert.deepEqual(kinds(report.problems), [
      'hash_mismatch',
      'hash_mismatch',
      'reordered',
      'reordered',
      'reordered',
    ]);
  });

  it('finds a reordered pair whose hashes were recomputed to match', async () => {
    const events = fourEvents();
    const e2 = resealed({ ...events[1]!, sequence: 3 });
    const e3 = resealed({ ...events[2]!, sequence: 2 });
    const report = await verifyChains(records([events[0], e3, e2, events[3]]), devChainKeys);
    // Every hash matches its content now; the links give the swap away.
    assert.deepEqual(
      report.problems.map((p) => [p.kind, 'sequence' in p ? p.sequence : null]),
      [
        ['broken_link', 2],
        ['reordered', 3],
        ['broken_link', 4],
      ],
    );
    assert.ok(report.problems.some((p) => p.kind === 'reordered' && p.linksToSequence === 1));
  });

  it('ignores exact duplicates (a log pipeline may deliver twice) but reports a forked sequence number', async () => {
    const events = fourEvents();
    const duplicated = await verifyChains(records([...events, events[2]]), devChainKeys);
    assert.deepEqual(duplicated.problems, []);
    assert.equal(duplicated.duplicatesIgnored, 1);

    const forged = resealed({ ...events[1]!, eventId: 'forged', prevHash: events[0]!.hash });
    const forked = await verifyChains(records([...events, forged]), devChainKeys);
    assert.deepEqual(forked.problems, [
      {
        kind: 'duplicate_sequence',
        inferenceId: 'inf_a',
        sequence: 2,
        eventIds: [events[1]!.eventId, 'forged'],
      },
    ]);
  });

  it('counts an event re-emitted by the audit repair sweep once, wherever the copies are stored', async () => {
    const events = fourEvents();
    // Emitted, then emitted again from its pending copy: the same text, in another place of the trail.
    const report = await verifyChains(
      records([events[0], events[1], events[1], events[2], events[3], events[3]]),
      devChainKeys,
    );
    assert.deepEqual(report.problems, []);
    assert.equal(report.duplicatesIgnored, 2);
    assert.equal(report.chains, 1);
  });

  it('reports two different events under one eventId, even where each links correctly', async () => {
    const events = fourEvents();
    // A fifth event, sealed with the key onto the chain, that reuses the id of the second.
    const [, , , , reused] = chain(
      ...events.map(({ sequence: _s, prevHash: _p, hash: _h, chainKeyId: _k, ...d }) => d),
      reviewDraft('inf_a', 'escalated', { eventId: events[1]!.eventId }),
    );
    const report = await verifyChains(records([...events, reused]), devChainKeys);
    assert.deepEqual(report.problems, [
      { kind: 'duplicate_event_id', inferenceId: 'inf_a', eventId: events[1]!.eventId, sequences: [2, 5] },
    ]);
  });

  it('reports records that are not JSON or do not match the schema, and keeps checking the rest', async () => {
    const events = fourEvents();
    const invalid = { ...structuredClone(events[1]!), eventType: 'inference.invented' };
    const report = await verifyChains(
      [
        { ok: false, error: 'not valid JSON', origin: 'line 1' },
        ...records([events[0], invalid, events[2], events[3]]),
      ],
      devChainKeys,
    );
    assert.deepEqual(kinds(report.problems), ['hash_mismatch', 'invalid_event', 'invalid_event']);
    assert.ok(report.problems.some((p) => p.kind === 'invalid_event' && p.origin === 'line 1'));
    assert.ok(report.problems.some((p) => p.kind === 'invalid_event' && /eventType/.test(p.detail)));
  });

  it('verifies 1.0 events, which carry no patientRef, and standalone replays of an inference', async () => {
    const old = chain({
      ...draft({ inferenceId: 'inf_old' }),
      schemaVersion: '1.0',
      patientRef: undefined,
      encounterRef: undefined,
    });
    const report = await verifyChains(records(old), devChainKeys);
    assert.deepEqual(report.problems, []);
  });

  it('catches the newest event rewritten (a changed dose) with its hash recomputed by someone without the chain key', async () => {
    const events = fourEvents();
    const forged = structuredClone(events[0]!);
    forged.decision!.response = { medications: [{ name: 'metformin', dose: '5000 mg' }] };
    const { hash: _old, ...rest } = forged;
    const plainSha = createHash('sha256')
      .update(canonicalize(rest) ?? '')
      .digest('hex');
    for (const hash of [plainSha, hashEvent(rest, 'a-guessed-key-that-is-not-the-chain-key')]) {
      const report = await verifyChains(records([{ ...rest, hash }]), devChainKeys);
      assert.deepEqual(kinds(report.problems), ['hash_mismatch']);
    }
  });

  it('reports events sealed without a chain key, or with a key id it was not given', async () => {
    const [event] = fourEvents();
    const { chainKeyId: _id, ...unkeyed } = event!;
    const report = await verifyChains(records([unkeyed]), devChainKeys);
    assert.deepEqual(report.problems, [
      { kind: 'unknown_key', origin: 'line 1', inferenceId: 'inf_a', eventId: event!.eventId, keyId: null },
    ]);
    const otherKeys = await verifyChains(records([event]), new Map([['v7', 'x'.repeat(32)]]));
    assert.deepEqual(kinds(otherKeys.problems), ['unknown_key']);
  });

  it('verifies each event under the key its id names, so rotated keys keep verifying', async () => {
    const old = fourEvents('inf_a_old');
    const rotated: ChainKey = { id: 'v2', secret: 'the-second-chain-key-after-rotation' };
    const [newer] = [sealEvent(draft({ inferenceId: 'inf_b_new' }), null, rotated)];
    const keys = new Map([...devChainKeys, [rotated.id, rotated.secret]]);
    const report = await verifyChains(records([...old, newer]), keys);
    assert.deepEqual(report.problems, []);
  });

  it('cross-checks the two copies of a hash: the entry index and the event disagreeing is a finding', async () => {
    const events = fourEvents();
    const [first, ...others] = records(events);
    const report = await verifyChains(
      [{ ...first!, indexHash: 'f'.repeat(64) } as AuditRecord, ...others],
      devChainKeys,
    );
    assert.deepEqual(report.problems, [
      { kind: 'copy_mismatch', origin: 'line 1', inferenceId: 'inf_a', eventId: events[0]!.eventId },
    ]);
  });

  it('refuses a source that does not deliver chains grouped', async () => {
    const a = fourEvents('inf_a');
    const b = fourEvents('inf_b');
    await assert.rejects(
      verifyChains(records([a[0], a[1], b[0], a[2]]), devChainKeys),
      isUngroupedSourceError,
    );
  });
});
