import assert from 'node:assert/strict';
import type { AuditWriteFailure } from '../../functions/src/core/audit/auditSink.js';
import { DEV_CHAIN_KEY, sealEvent } from '../../functions/src/core/audit/chain.js';
import type { AuditEvent } from '../../functions/src/core/audit/events.js';
import {
  AuditRepair,
  type PendingAuditEvent,
  PendingAuditReleaser,
  type PendingAuditStore,
} from '../../functions/src/core/audit/pendingAudit.js';
import { draft } from '../support/auditEvents.js';

/** Pending copies in memory, oldest first, with the deletions and listings the code asked for. */
function memoryStore(copies: PendingAuditEvent[]) {
  const deletions: string[][] = [];
  const store: PendingAuditStore = {
    listOlderThan: async (before, limit, after) => {
      // As Firestore's cursor: after (createdAt, id), whether or not that copy still exists.
      const isAfter = (c: PendingAuditEvent) =>
        !after ||
        c.createdAt > after.createdAt ||
        (c.createdAt.getTime() === after.createdAt.getTime() && c.eventId > after.eventId);
      return copies.filter((c) => isAfter(c) && c.createdAt < before).slice(0, limit);
    },
    delete: async (ids) => {
      deletions.push([...ids]);
      for (const id of ids) {
        const i = copies.findIndex((c) => c.eventId === id);
        if (i >= 0) copies.splice(i, 1);
      }
    },
  };
  return { store, copies, deletions };
}

const now = new Date('2026-12-01T12:00:00Z');
const copyOf = (event: AuditEvent, secondsAgo: number): PendingAuditEvent => ({
  eventId: event.eventId,
  eventJson: JSON.stringify(event),
  createdAt: new Date(now.getTime() - secondsAgo * 1000),
});
const sealed = () =>
  sealEvent(draft({ inferenceId: `inf_${Math.random().toString(36).slice(2)}` }), null, DEV_CHAIN_KEY);

describe('pending audit copies: batched release', () => {
  it('deletes the ids of one interval in one batched write, and at once when a batch is full', async () => {
    const deleted: string[][] = [];
    let called: () => void = () => undefined;
    const store = {
      delete: async (ids: readonly string[]) => {
        deleted.push([...ids]);
        called();
      },
    };
    const releaser = new PendingAuditReleaser(store, { intervalMs: 10, maxBatch: 3 });
    const first = new Promise<void>((resolve) => (called = resolve));
    releaser.release('a');
    releaser.release('b');
    assert.deepEqual(deleted, [], 'nothing is written on the request path');
    await first;
    assert.deepEqual(deleted, [['a', 'b']]);

    releaser.release('c');
    releaser.release('d');
    releaser.release('e');
    // Full: written without waiting for the interval.
    assert.deepEqual(deleted, [
      ['a', 'b'],
      ['c', 'd', 'e'],
    ]);
    await releaser.flush();
  });

  it('a failed deletion is harmless: flush resolves, and later ids still go', async () => {
    let fail = true;
    const deleted: string[][] = [];
    const releaser = new PendingAuditReleaser(
      {
        delete: async (ids) => {
          if (fail) throw new Error('firestore unavailable');
          deleted.push([...ids]);
        },
      },
      { intervalMs: 60_000, maxBatch: 100 },
    );
    releaser.release('a');
    await releaser.flush();
    fail = false;
    releaser.release('b');
    await releaser.flush();
    assert.deepEqual(deleted, [['b']]);
  });
});

describe('pending audit copies: the repair sweep', () => {
  const failures: AuditWriteFailure[] = [];
  const warnings: Record<string, unknown>[] = [];
  beforeEach(() => {
    failures.length = 0;
    warnings.length = 0;
  });
  const repairWith = (store: PendingAuditStore, write: (e: AuditEvent) => Promise<void>) =>
    new AuditRepair({
      store,
      sink: { write },
      report: (_m, f) => failures.push(f),
      warn: (_m, f) => warnings.push(f),
      clock: () => now.getTime(),
    });
  const options = { graceMs: 60_000, pageSize: 2, maxPages: 10 };

  it('re-emits copies older than the grace, exactly as sealed, deletes them, and leaves younger ones', async () => {
    const [old1, old2, old3, young] = [sealed(), sealed(), sealed(), sealed()];
    const m = memoryStore([copyOf(old1, 300), copyOf(old2, 200), copyOf(old3, 61), copyOf(young, 30)]);
    const emitted: AuditEvent[] = [];
    const result = await repairWith(m.store, async (e) => void emitted.push(e)).repair(options);
    assert.deepEqual(result, { reemitted: 3, failed: 0 });
    assert.deepEqual(emitted, [old1, old2, old3]);
    assert.deepEqual(
      m.copies.map((c) => c.eventId),
      [young.eventId],
    );
    assert.deepEqual(failures, []);
  });

  it('keeps a copy the sink refuses (reported as audit_write_failed) and goes on past it', async () => {
    const [refused, next, last] = [sealed(), sealed(), sealed()];
    const m = memoryStore([copyOf(refused, 300), copyOf(next, 200), copyOf(last, 100)]);
    const result = await repairWith(m.store, async (e) => {
      if (e.eventId === refused.eventId) throw new Error('sink down');
    }).repair(options);
    assert.deepEqual(result, { reemitted: 2, failed: 1 });
    assert.deepEqual(
      m.copies.map((c) => c.eventId),
      [refused.eventId],
    );
    assert.deepEqual(
      failures.map((f) => [f.event, f.eventId]),
      [['audit_write_failed', refused.eventId]],
    );
  });

  it('does not emit a copy that is not a valid event of its id, and says so', async () => {
    const good = sealed();
    const other = sealed();
    const m = memoryStore([
      { eventId: 'broken', eventJson: '{"not":', createdAt: new Date(now.getTime() - 300_000) },
      { ...copyOf(other, 250), eventId: 'not-its-id' },
      copyOf(good, 200),
    ]);
    const emitted: AuditEvent[] = [];
    const result = await repairWith(m.store, async (e) => void emitted.push(e)).repair(options);
    assert.deepEqual(result, { reemitted: 1, failed: 2 });
    assert.deepEqual(emitted, [good]);
    assert.deepEqual(
      warnings.map((w) => w.eventId),
      ['broken', 'not-its-id'],
    );
  });
});
