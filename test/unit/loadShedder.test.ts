import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import supertest from 'supertest';
import { createLoadShedder, type LoadShedder } from '../../functions/src/http/loadShedder.js';

/** Admission control on its own: the concurrency bound and the event-loop-lag bound. */

/** A function behind `shedder`; `handler` may hold a request until `release()` opens its gate. */
function serve(
  shedder: LoadShedder,
  handler: (gate: Promise<void>, req: { body?: { hold?: boolean } }) => Promise<void>,
) {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const name = `shed-${randomUUID().slice(0, 8)}`;
  http(
    name,
    shedder.wrap(async (req, res) => {
      if (req.path !== '/healthz') await handler(gate, req);
      res.status(200).json({ ok: true });
    }),
  );
  return { api: supertest(getTestServer(name)), release, name };
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

  it('keeps the connection of a refused request open: a retry on it needs no new connection', async () => {
    shedder = createLoadShedder({ maxConcurrent: 1, maxEventLoopLagMs: 10_000 });
    const { release, name } = serve(shedder, async (gate, req) => {
      if (req.body?.hold) await gate;
    });
    const server = getTestServer(name);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const post = (body: unknown, via?: Agent) =>
      new Promise<{ status: number; reused: boolean; connection: string | undefined }>((resolve, reject) => {
        const req = request(
          { port, host: '127.0.0.1', method: 'POST', path: '/v1/x', agent: via ?? false },
          (res) => {
            res.resume();
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                reused: req.reusedSocket,
                connection: res.headers.connection,
              }),
            );
          },
        );
        req.on('error', reject);
        req.setHeader('content-type', 'application/json');
        req.end(JSON.stringify(body));
      });
    try {
      const held = post({ hold: true });
      for (let i = 0; i < 200 && shedder.inFlight < 1; i++) await sleep(5);
      const refused = await post({ note: 'x'.repeat(2_000) }, agent);
      assert.equal(refused.status, 503);
      assert.equal(refused.connection, 'keep-alive');
      release();
      assert.equal((await held).status, 200);
      const retried = await post({ note: 'x'.repeat(2_000) }, agent);
      assert.deepEqual([retried.status, retried.reused], [200, true]);
    } finally {
      agent.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
