import assert from 'node:assert/strict';
import type { DocumentReference, Firestore, Timestamp } from '@google-cloud/firestore';
import { CoalescedCalls, type CommitWrite } from '../../functions/src/adapters/firestore/coalescedCalls.js';

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
  commit?: (paths: string[]) => Promise<unknown>;
}) {
  const calls: string[][] = [];
  const db = {
    // As the SDK's WriteBatch: a write it cannot encode throws when it is added; the commit is one call,
    // answered as a whole.
    batch: () => {
      const paths: string[] = [];
      const add = (r: DocumentReference, data: Record<string, unknown>) => {
        if (data.invalid) throw new Error('Cannot encode value: () => 1');
        paths.push(r.path);
      };
      return {
        create: add,
        update: add,
        commit: () => {
          calls.push(paths);
          return answer.commit?.(paths) ?? Promise.resolve([]);
        },
      };
    },
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

  describe('commits', () => {
    const version = {} as Timestamp;
    const update = (id: string, data: Record<string, unknown> = {}): CommitWrite => ({
      kind: 'update',
      ref: ref(id),
      data,
      lastUpdateTime: version,
    });
    const create = (id: string, data: Record<string, unknown> = {}): CommitWrite => ({
      kind: 'create',
      ref: ref(id),
      data,
    });
    const reasons = (outcomes: PromiseSettledResult<void>[]) =>
      outcomes.map((o) => (o.status === 'rejected' ? o.reason : 'fulfilled'));

    it('sends the commits of one turn in one call; one refused for its own write goes again alone, and only it fails', async () => {
      const changed = Object.assign(new Error('9 FAILED_PRECONDITION'), { code: 9 });
      const { db, calls } = fakeFirestore({
        commit: (paths) => (paths.includes('c/lost') ? Promise.reject(changed) : Promise.resolve([])),
      });
      const shared = new CoalescedCalls(db);
      const outcomes = await Promise.allSettled([
        shared.commit([update('a'), create('a-inference')]),
        shared.commit([update('lost'), create('lost-inference')]),
        shared.commit([update('c')]),
      ]);
      assert.deepEqual(calls, [
        ['c/a', 'c/a-inference', 'c/lost', 'c/lost-inference', 'c/c'],
        ['c/a', 'c/a-inference'],
        ['c/lost', 'c/lost-inference'],
        ['c/c'],
      ]);
      assert.deepEqual(reasons(outcomes), ['fulfilled', changed, 'fulfilled']);
    });

    it('fails every commit of a call that may have applied, or failed for all, with its error, without sending again', async () => {
      for (const code of [14, 4, 8]) {
        const failure = Object.assign(new Error(`${code}`), { code });
        const { db, calls } = fakeFirestore({ commit: () => Promise.reject(failure) });
        const shared = new CoalescedCalls(db);
        const outcomes = await Promise.allSettled([
          shared.commit([update('a')]),
          shared.commit([update('b')]),
        ]);
        assert.deepEqual(reasons(outcomes), [failure, failure], `code ${code}`);
        assert.deepEqual(calls, [['c/a', 'c/b']], `code ${code}`);
      }
    });

    it('fails only the commit with a write the client cannot encode; the others go each alone', async () => {
      const { db, calls } = fakeFirestore({});
      const shared = new CoalescedCalls(db);
      const outcomes = await Promise.allSettled([
        shared.commit([update('a')]),
        shared.commit([update('bad'), create('bad-inference', { invalid: true })]),
        shared.commit([update('c')]),
      ]);
      assert.deepEqual(calls, [['c/a'], ['c/c']]);
      assert.equal(outcomes[1]?.status, 'rejected');
      assert.match(String((outcomes[1] as PromiseRejectedResult).reason), /Cannot encode/);
      assert.deepEqual([outcomes[0]?.status, outcomes[2]?.status], ['fulfilled', 'fulfilled']);
    });

    it('never writes one document twice in a call, nor more than 100 writes', async () => {
      const { db, calls } = fakeFirestore({});
      const shared = new CoalescedCalls(db);
      await Promise.all([
        shared.commit([update('d')]),
        shared.commit([update('d')]),
        shared.commit([create('e')]),
      ]);
      assert.deepEqual(calls, [['c/d'], ['c/d', 'c/e']]);

      calls.length = 0;
      await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          shared.commit(['w', 'x', 'y', 'z'].map((d) => create(`${d}${i}`))),
        ),
      );
      assert.deepEqual(
        calls.map((call) => call.length),
        [100, 20],
      );
    });
  });
});
