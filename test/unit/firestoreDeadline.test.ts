import assert from 'node:assert/strict';
import type { Firestore } from '@google-cloud/firestore';
import {
  FirestoreStalledError,
  withDeadline,
} from '../../functions/src/adapters/firestore/firestoreClient.js';
import { isGatewayError } from '../../functions/src/core/errors.js';

describe('withDeadline (Firestore calls on the request path)', () => {
  it('answers a stalled call with a retryable error at the deadline', async () => {
    const db = {} as Firestore;
    await withDeadline(db, async () => 'warm', 10, 'store');
    await assert.rejects(
      withDeadline(db, () => new Promise<never>(() => undefined), 10, 'store'),
      (e: unknown) => isGatewayError(e, 'dependency_unavailable') && e.retryAfterSeconds > 0,
    );
  });

  it('past 100 unanswered calls, fails at once without making another; calls flow again once they settle', async () => {
    const db = {} as Firestore;
    await withDeadline(db, async () => 'warm', 10, 'store');
    const wake: Array<() => void> = [];
    const stalled = () => new Promise<void>((resolve) => wake.push(resolve));
    await Promise.all(
      Array.from({ length: 100 }, () => assert.rejects(withDeadline(db, stalled, 10, 'store'))),
    );
    let called = false;
    await assert.rejects(
      withDeadline(
        db,
        async () => {
          called = true;
        },
        10,
        'store',
      ),
      (e: unknown) => isGatewayError(e, 'dependency_unavailable') && e.cause instanceof FirestoreStalledError,
    );
    assert.equal(called, false, 'no call is made while 100 are unanswered');
    for (const resolve of wake) resolve();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(await withDeadline(db, async () => 'answered', 10, 'store'), 'answered');
  });
});
