import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import supertest from 'supertest';
import { createLoadShedder, type LoadShedder } from '../../functions/src/http/loadShedder.js';

/** Admission control on its own: the concurrency bound and the event-loop-lag bound. */

function serve(shedder: LoadShedder, handler: (release: Promise<void>) => Promise<void>) {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const name = `shed-${randomUUID().slice(0, 8)}`;
  http(
    name,
    shedder.wrap(async (req, res) => {
      if (req.path !== '/healthz') await handler(gate);
      res.status(200).json({ ok: true });
    }),
  );
  return { api: supertest(getTestServer(name)), release };
}

describe('load shedder', () => {
  let shedder: LoadShedder;
  afterEach(() => shedder.close());

  it('refuses past the concurrency bound at once, with 503, Retry-After and a problem document', async () => {
    shedder = createLoadShedder({ maxConcurrent: 2, maxEventLoopLagMs: 10_000 });
    const { api, release } = serve(shedder, (gate) => gate);
    const held = [api.get('/x').then((r) => r), api.get('/x').then((r) => r)];
    for (let i = 0; i < 200 && shedder.inFlight < 2; i++) await sleep(5);
    assert.equal(shedder.inFlight, 2);
    const refused = await api.get('/x');
    assert.equal(refused.status, 503);
    assert.equal(refused.headers['retry-after'], '1');
    assert.match(refused.headers['content-type'] ?? '', /^application\/problem\+json/);
    assert.equal(refused.body.status, 503);
    assert.equal((await api.get('/healthz')).status, 200, 'health checks are always answered');
    release();
    assert.deepEqual(
      (await Promise.all(held)).map((r) => r.status),
      [200, 200],
    );
    assert.equal((await api.get('/x')).status, 200, 'admitted again once below the bound');
  });

  it('refuses while the event loop lags past its bound, and admits again once it catches up', async () => {
    shedder = createLoadShedder({ maxConcurrent: 100, maxEventLoopLagMs: 50 });
    const { api } = serve(shedder, async () => undefined);
    assert.equal((await api.get('/x')).status, 200);
    // Saturate the loop: a 300 ms block, five times the bound, seen by the next lag sample.
    const until = performance.now() + 300;
    while (performance.now() < until) {
      // busy
    }
    await sleep(0); // the overdue lag sample runs first
    assert.ok(shedder.lagMs > 50, `lag sample ${shedder.lagMs} ms`);
    assert.equal((await api.get('/x')).status, 503);
    while (shedder.lagMs > 50) await sleep(10);
    assert.equal((await api.get('/x')).status, 200);
  });
});
