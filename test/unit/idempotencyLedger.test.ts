import assert from 'node:assert/strict';
import { isGatewayError } from '../../functions/src/core/errors.js';
import {
  type Claim,
  type ClaimOutcome,
  IdempotencyLedger,
  type LedgerRecord,
  type LedgerStore,
  ledgerRecordId,
  newInferenceId,
} from '../../functions/src/core/idempotency/ledger.js';
import { completeClaim, MemoryDatabase } from '../support/memoryStores.js';

/**
 * The ledger's rules (core/idempotency/ledger.ts), over the in-memory stores (which keep the Firestore
 * adapters' contract: test/integration/storeContract.test.ts). Time is a clock the test moves.
 */

const LEASE_MS = 30_000;
const TTL_MS = 24 * 3_600_000;
const t0 = new Date('2026-11-27T09:00:00.000Z');

function setUp() {
  let now = t0.getTime();
  const db = new MemoryDatabase();
  const { ledger: store, inferences } = db.stores();
  const ledger = new IdempotencyLedger(store, {
    ttlMs: TTL_MS,
    leaseMs: LEASE_MS,
    clock: () => now,
  });
  return {
    db,
    ledger,
    inferences,
    advance: (ms: number) => {
      now += ms;
    },
    /** Completes `claim` as the inference service does: one write conditioned on the claim's version. */
    complete: (claim: Claim, status = 200, body = `{"id":"${claim.inferenceId}"}`) =>
      completeClaim(ledger, inferences, claim, { status, body }),
  };
}

const claimed = (outcome: ClaimOutcome): Claim & { tookOver: boolean } => {
  assert.equal(outcome.kind, 'claimed');
  return { ...outcome.claim, tookOver: outcome.tookOver };
};

/** The HTTP status the error maps to (API.md): the kind is what `http/problem.ts` maps. */
const kindOf = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
  } catch (e) {
    assert.ok(isGatewayError(e), String(e));
    return e.kind;
  }
  assert.fail('expected a refusal');
};

describe('IdempotencyLedger: what a second request with the same key gets', () => {
  type Case = {
    name: string;
    /** The first request's state when the second arrives. */
    first: 'in_progress' | 'completed';
    sameRequest: boolean;
    /** Time since the first claim. */
    afterMs: number;
    expect: 'claimed' | 'took_over' | 'replay' | 'in_progress (409)' | 'key_reused (422)';
  };
  const cases: Case[] = [
    {
      name: 'still running, same request',
      first: 'in_progress',
      sameRequest: true,
      afterMs: 1_000,
      expect: 'in_progress (409)',
    },
    {
      name: 'still running, at the last moment of its lease',
      first: 'in_progress',
      sameRequest: true,
      afterMs: LEASE_MS - 1,
      expect: 'in_progress (409)',
    },
    {
      name: 'holder died, lease run out',
      first: 'in_progress',
      sameRequest: true,
      afterMs: LEASE_MS,
      expect: 'took_over',
    },
    {
      name: 'still running, different request',
      first: 'in_progress',
      sameRequest: false,
      afterMs: 1_000,
      expect: 'key_reused (422)',
    },
    {
      name: 'holder died, different request',
      first: 'in_progress',
      sameRequest: false,
      afterMs: LEASE_MS + 1,
      expect: 'key_reused (422)',
    },
    {
      name: 'finished, same request',
      first: 'completed',
      sameRequest: true,
      afterMs: 1_000,
      expect: 'replay',
    },
    {
      name: 'finished long ago (within the TTL), same request',
      first: 'completed',
      sameRequest: true,
      afterMs: TTL_MS - 1,
      expect: 'replay',
    },
    {
      name: 'finished, different request',
      first: 'completed',
      sameRequest: false,
      afterMs: 1_000,
      expect: 'key_reused (422)',
    },
    {
      name: 'finished, past the TTL, different request',
      first: 'completed',
      sameRequest: false,
      afterMs: TTL_MS,
      expect: 'claimed',
    },
    {
      name: 'abandoned, past the TTL',
      first: 'in_progress',
      sameRequest: true,
      afterMs: TTL_MS,
      expect: 'claimed',
    },
  ];

  for (const c of cases) {
    it(`${c.name}: ${c.expect}`, async () => {
      const s = setUp();
      const first = claimed(await s.ledger.claim('acme', 'key-1', 'fp-1'));
      assert.equal(first.tookOver, false);
      if (c.first === 'completed') await s.complete(first, 202, '{"first":true}');
      s.advance(c.afterMs);
      const second = s.ledger.claim('acme', 'key-1', c.sameRequest ? 'fp-1' : 'fp-2');
      switch (c.expect) {
        case 'claimed':
        case 'took_over': {
          const claim = claimed(await second);
          assert.equal(claim.tookOver, c.expect === 'took_over');
          assert.notEqual(claim.ownerToken, first.ownerToken);
          assert.notEqual(claim.inferenceId, first.inferenceId);
          const stored = s.db.ledger.get(ledgerRecordId('acme', 'key-1'))!.value;
          assert.equal(stored.state, 'in_progress');
          assert.equal(stored.ownerToken, claim.ownerToken);
          break;
        }
        case 'replay':
          assert.deepEqual(await second, {
            kind: 'replay',
            response: { status: 202, body: '{"first":true}' },
            inferenceId: first.inferenceId,
          });
          break;
        case 'in_progress (409)':
          assert.equal(await kindOf(second), 'in_progress');
          break;
        case 'key_reused (422)':
          assert.equal(await kindOf(second), 'key_reused');
          break;
      }
    });
  }

  it('409 asks the caller to wait until the lease runs out (whole seconds, at least 1)', async () => {
    for (const [afterMs, retryAfter] of [
      [0, 30],
      [10_500, 20],
      [29_999, 1],
    ] as const) {
      const s = setUp();
      await s.ledger.claim('acme', 'key-1', 'fp-1');
      s.advance(afterMs);
      await assert.rejects(s.ledger.claim('acme', 'key-1', 'fp-1'), (e: unknown) => {
        assert.equal(
          (e as { retryAfterSeconds?: number }).retryAfterSeconds,
          retryAfter,
          `after ${afterMs} ms`,
        );
        return true;
      });
    }
  });

  it('keys are per tenant: the same key of another tenant is a claim of its own', async () => {
    const s = setUp();
    const mine = claimed(await s.ledger.claim('acme', 'key-1', 'fp-1'));
    const theirs = claimed(await s.ledger.claim('globex', 'key-1', 'fp-2'));
    assert.notEqual(mine.recordId, theirs.recordId);
  });
});

describe('IdempotencyLedger: only the holder of a claim may finish or release it', () => {
  it('a holder whose lease was taken over can neither complete nor release', async () => {
    const s = setUp();
    const late = claimed(await s.ledger.claim('acme', 'key-1', 'fp-1'));
    s.advance(LEASE_MS);
    const taker = claimed(await s.ledger.claim('acme', 'key-1', 'fp-1'));
    assert.equal(taker.tookOver, true);
    assert.equal(await kindOf(s.complete(late)), 'lease_lost');
    assert.equal(await s.ledger.release(late), false);
    // The taker's claim is untouched and finishes normally; its answer is the one replayed.
    await s.complete(taker, 200, '{"taker":true}');
    const replay = await s.ledger.claim('acme', 'key-1', 'fp-1');
    assert.deepEqual(replay, {
      kind: 'replay',
      response: { status: 200, body: '{"taker":true}' },
      inferenceId: taker.inferenceId,
    });
  });

  it('release gives an unfinished key back: the retry runs anew, not as a takeover', async () => {
    const s = setUp();
    const first = claimed(await s.ledger.claim('acme', 'key-1', 'fp-1'));
    assert.equal(await s.ledger.release(first), true);
    const retry = claimed(await s.ledger.claim('acme', 'key-1', 'fp-2'));
    assert.equal(retry.tookOver, false);
    assert.equal(await kindOf(s.complete(first)), 'lease_lost', 'a released claim cannot complete');
  });

  it('release never removes a finished record: its answer is still replayed', async () => {
    const s = setUp();
    const first = claimed(await s.ledger.claim('acme', 'key-1', 'fp-1'));
    await s.complete(first, 200, '{"done":true}');
    assert.equal(await s.ledger.release(first), false);
    const again = await s.ledger.claim('acme', 'key-1', 'fp-1');
    assert.equal(again.kind, 'replay');
  });

  it('a completed record keeps the claim’s fingerprint, owner, inference and TTL', async () => {
    const s = setUp();
    const claim = claimed(await s.ledger.claim('acme', 'key-1', 'fp-1'));
    s.advance(5_000);
    const record = s.ledger.completedRecord(claim, { status: 200, body: '{}' });
    assert.deepEqual(record, {
      state: 'completed',
      tenant: 'acme',
      fingerprint: 'fp-1',
      ownerToken: claim.ownerToken,
      inferenceId: claim.inferenceId,
      createdAt: t0,
      completedAt: new Date(t0.getTime() + 5_000),
      expiresAt: new Date(t0.getTime() + TTL_MS),
      response: { status: 200, body: '{}' },
    } satisfies LedgerRecord);
  });
});

describe('IdempotencyLedger: storage faults', () => {
  /** A store whose calls fail (or answer) as the test says; the rest go to memory. */
  function faultyStore(base: LedgerStore, faults: Partial<LedgerStore>): LedgerStore {
    return {
      create: faults.create ?? base.create.bind(base),
      get: faults.get ?? base.get.bind(base),
      replace: faults.replace ?? base.replace.bind(base),
      deleteIfOwner: faults.deleteIfOwner ?? base.deleteIfOwner.bind(base),
    };
  }
  const settings = { ttlMs: TTL_MS, leaseMs: LEASE_MS, orphanRelease: { minMs: 1, maxMs: 1, attempts: 3 } };

  it('a store failure is one retryable 503 kind, never the raw error', async () => {
    const base = new MemoryDatabase().stores().ledger;
    const ledger = new IdempotencyLedger(
      faultyStore(base, {
        create: async () => {
          throw Object.assign(new Error('14 UNAVAILABLE'), { code: 14 });
        },
      }),
      settings,
    );
    assert.equal(await kindOf(ledger.claim('acme', 'k', 'fp')), 'dependency_unavailable');
  });

  it('a claim write that failed but may have applied is released in the background, owner-checked', async () => {
    const db = new MemoryDatabase();
    const base = db.stores().ledger;
    let released: (v: { ownerToken: string; deleted: boolean }) => void = () => undefined;
    const releasedOrphan = new Promise<{ ownerToken: string; deleted: boolean }>((r) => {
      released = r;
    });
    const ledger = new IdempotencyLedger(
      faultyStore(base, {
        // The write lands, but its answer is lost (a deadline passed).
        create: async (id, record) => {
          await base.create(id, record);
          throw new Error('DEADLINE_EXCEEDED');
        },
        deleteIfOwner: async (id, ownerToken) => {
          const deleted = await base.deleteIfOwner(id, ownerToken);
          released({ ownerToken, deleted });
          return deleted;
        },
      }),
      settings,
    );
    assert.equal(await kindOf(ledger.claim('acme', 'k', 'fp')), 'dependency_unavailable');
    const orphan = await releasedOrphan;
    assert.equal(orphan.deleted, true);
    assert.equal(db.ledger.size, 0, 'the key is free again');
  });

  it('under contention (the record keeps vanishing), gives up with 409 rather than looping', async () => {
    let creates = 0;
    const ledger = new IdempotencyLedger(
      {
        create: async () => {
          creates++;
          return null;
        },
        get: async () => null,
        replace: async () => null,
        deleteIfOwner: async () => false,
      },
      settings,
    );
    assert.equal(await kindOf(ledger.claim('acme', 'k', 'fp')), 'in_progress');
    assert.equal(creates, 5);
  });
});

describe('newInferenceId', () => {
  it('gives 128 random bits per id, base64url, none repeated across refills of its entropy', () => {
    const ids = Array.from({ length: 2_000 }, newInferenceId); // the entropy is drawn 256 ids at a time
    for (const id of ids) assert.match(id, /^inf_[A-Za-z0-9_-]{22}$/);
    assert.equal(new Set(ids).size, ids.length);
    // Every byte of every id is drawn: over 32,000 random bytes, each bit position is set about half the time.
    const bits = new Array<number>(128).fill(0);
    for (const id of ids) {
      const bytes = Buffer.from(id.slice(4), 'base64url');
      assert.equal(bytes.length, 16);
      for (let b = 0; b < 128; b++) bits[b]! += (bytes[b >> 3]! >> (b & 7)) & 1;
    }
    for (const set of bits) assert.ok(set > 850 && set < 1_150, `a bit set in ${set} of 2,000 ids`);
  });
});
