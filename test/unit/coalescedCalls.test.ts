import assert from 'node:assert/strict';
import type { DocumentReference, Firestore } from '@google-cloud/firestore';
import { CoalescedCalls } from '../../functions/src/adapters/firestore/coalescedCalls.js';

/**
 * How shared calls fail: a call that Firestore fails fails everyone in it, and only them; a document the
 * client cannot encode fails its own caller alone. (That the emulator answers each caller correctly is the
 * store contract's job; that one turn's calls are one round trip, and the real SDK's encoding failure,
 * test/integration/hotPath.test.ts's.)
 */

type Settle = { resolve: (v: unknown) => void; reject: (e: unknown) => void };

const ref = (id: string) => ({ path: `c/${id}`, id }) as unknown as DocumentReference;

/** A client whose calls are recorded, and answered as `answer` says. */
function fakeFirestore(answer: {
  getAll?: (paths: string[]) => Promise<unknown[]>;
  create?: (path: string) => Promise<unknown>;
}) {
  const calls: string[][] = [];
  const db = {
    getAll: (...refs: DocumentReference[]) => {
      calls.push(refs.map((r) => r.path));
      return answer.getAll?.(refs.map((r) => r.path)) ?? Promise.resolve(refs.map((r) => ({ path: r.path })));
    },
    // As the SDK's BulkWriter: writes are sent when it closes, and a write it cannot encode fails the whole
    // call, before anything is sent, with an error that has no status.
    bulkWriter: () => {
      const batch: Array<{ path: string; data: Record<string, unknown>; settle: Settle }> = [];
      return {
        onWriteError: () => undefined,
        create: (r: DocumentReference, data: Record<string, unknown>) =>
          new Promise((resolve, reject) => batch.push({ path: r.path, data, settle: { resolve, reject } })),
        close: () => {
          calls.push(batch.map((w) => w.path));
          const unencodable = batch.some((w) => w.data.invalid);
          for (const w of batch) {
            if (unencodable) w.settle.reject(new Error('Cannot encode value: () => 1'));
            else
              (answer.create?.(w.path) ?? Promise.resolve({ writeTime: w.path })).then(
                w.settle.resolve,
                w.settle.reject,
              );
          }
          return Promise.resolve();
        },
      };
    },
  } as unknown as Firestore;
  return { db, calls };
}

describe('CoalescedCalls', () => {
  it('sends the reads of one turn in one call and gives each caller its own document', async () => {
    const { db, calls } = fakeFirestore({});
    const shared = new CoalescedCalls(db);
    const found = await Promise.all(['a', 'b', 'a'].map((id) => shared.get(ref(id))));
    assert.deepEqual(calls, [['c/a', 'c/b', 'c/a']]);
    assert.deepEqual(found, [{ path: 'c/a' }, { path: 'c/b' }, { path: 'c/a' }]);
  });

  it('fails every read of a failed call with its error, and the next turn calls again', async () => {
    const unavailable = Object.assign(new Error('14 UNAVAILABLE'), { code: 14 });
    let fail = true;
    const { db, calls } = fakeFirestore({
      getAll: (paths) => (fail ? Promise.reject(unavailable) : Promise.resolve(paths)),
    });
    const shared = new CoalescedCalls(db);
    const outcomes = await Promise.allSettled([shared.get(ref('a')), shared.get(ref('b'))]);
    assert.deepEqual(
      outcomes.map((o) => (o.status === 'rejected' ? o.reason : 'fulfilled')),
      [unavailable, unavailable],
    );
    fail = false;
    assert.equal(await shared.get(ref('c')), 'c/c');
    assert.equal(calls.length, 2);
  });

  it('gives each create its own outcome; a write that cannot be encoded fails its caller alone', async () => {
    const exists = Object.assign(new Error('6 ALREADY_EXISTS'), { code: 6 });
    const { db, calls } = fakeFirestore({
      create: (path) => (path === 'c/taken' ? Promise.reject(exists) : Promise.resolve({ writeTime: path })),
    });
    const shared = new CoalescedCalls(db);
    const outcomes = await Promise.allSettled([
      shared.create(ref('a'), {}),
      shared.create(ref('taken'), {}),
      shared.create(ref('bad'), { invalid: true }),
      shared.create(ref('b'), {}),
    ]);
    assert.deepEqual(calls, [['c/a', 'c/taken', 'c/bad', 'c/b'], ['c/a'], ['c/taken'], ['c/bad'], ['c/b']]);
    assert.deepEqual(outcomes[0], { status: 'fulfilled', value: { writeTime: 'c/a' } });
    assert.deepEqual(outcomes[1], { status: 'rejected', reason: exists });
    assert.equal(outcomes[2]?.status, 'rejected');
    assert.match(String((outcomes[2] as PromiseRejectedResult).reason), /Cannot encode/);
    assert.deepEqual(outcomes[3], { status: 'fulfilled', value: { writeTime: 'c/b' } });
  });

  it('fails every create of a call Firestore fails, with its error, without sending them again', async () => {
    const unavailable = Object.assign(new Error('14 UNAVAILABLE'), { code: 14 });
    const { db, calls } = fakeFirestore({ create: () => Promise.reject(unavailable) });
    const shared = new CoalescedCalls(db);
    const outcomes = await Promise.allSettled([shared.create(ref('a'), {}), shared.create(ref('b'), {})]);
    assert.deepEqual(
      outcomes.map((o) => (o.status === 'rejected' ? o.reason : 'fulfilled')),
      [unavailable, unavailable],
    );
    assert.deepEqual(calls, [['c/a', 'c/b']]);
  });

  it('sends nothing until asked, and each turn its own call', async () => {
    const { db, calls } = fakeFirestore({});
    const shared = new CoalescedCalls(db);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(calls, []);
    await shared.create(ref('a'), {});
    await shared.create(ref('b'), {});
    assert.deepEqual(calls, [['c/a'], ['c/b']]);
  });
});
