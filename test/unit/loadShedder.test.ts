import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import supertest from 'supertest';
import { installProblemFinalHandler } from '../../functions/src/http/frameworkErrors.js';
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

/**
 * `shedder`'s function behind a listening Functions Framework server; with `hook`, the framework hook admits
 * first (before the body is read), else only the wrapped handler does. A posted `{ hold: true }` waits for
 * `release()`.
 */
async function listen(shedder: LoadShedder, options: { hook: boolean }) {
  if (options.hook) installProblemFinalHandler({ admission: shedder });
  const served = serve(shedder, async (gate, req) => {
    if (req.body?.hold) await gate;
  });
  const server = getTestServer(served.name);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  /** POSTs `body` (JSON text), on a connection of its own unless `via` an agent. */
  const send = (body: string, via?: Agent) =>
    new Promise<{ status: number; type: string; reused: boolean; connection: string | undefined }>(
      (resolve, reject) => {
        const req = request(
          { port, host: '127.0.0.1', method: 'POST', path: '/v1/x', agent: via ?? false },
          (res) => {
            let text = '';
            res.on('data', (chunk) => {
              text += chunk;
            });
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                type: (JSON.parse(text) as { type?: string }).type ?? '',
                reused: req.reusedSocket,
                connection: res.headers.connection,
              }),
            );
          },
        );
        req.on('error', reject);
        req.setHeader('content-type', 'application/json');
        req.end(body);
      },
    );
  const close = async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  };
  return { ...served, port, send, close };
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
    const { send, release, close } = await listen(shedder, { hook: false });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const held = send(JSON.stringify({ hold: true }));
      for (let i = 0; i < 200 && shedder.inFlight < 1; i++) await sleep(5);
      const refused = await send(JSON.stringify({ note: 'x'.repeat(2_000) }), agent);
      assert.equal(refused.status, 503);
      assert.equal(refused.connection, 'keep-alive');
      release();
      assert.equal((await held).status, 200);
      const retried = await send(JSON.stringify({ note: 'x'.repeat(2_000) }), agent);
      assert.deepEqual([retried.status, retried.reused], [200, true]);
    } finally {
      agent.destroy();
      await close();
    }
  });

  describe('in the framework hook, before the body is read', () => {
    afterEach(() => installProblemFinalHandler()); // the hook is process-wide: no admission for other tests

    it('refuses without parsing the body: malformed JSON at capacity is a 503, not a 400', async () => {
      shedder = createLoadShedder({ maxConcurrent: 1, maxEventLoopLagMs: 10_000 });
      const { send, release, close } = await listen(shedder, { hook: true });
      try {
        const held = send(JSON.stringify({ hold: true }));
        for (let i = 0; i < 200 && shedder.inFlight < 1; i++) await sleep(5);
        const refused = await send('{"not json');
        assert.equal(refused.status, 503);
        assert.match(refused.type, /overloaded$/);
        release();
        assert.equal((await held).status, 200);
        const parsed = await send('{"not json');
        assert.equal(parsed.status, 400, 'admitted, the same body is read and refused as malformed');
        for (let i = 0; i < 200 && shedder.inFlight > 0; i++) await sleep(5);
        assert.equal(shedder.inFlight, 0, 'every answered request gave its slot back');
      } finally {
        await close();
      }
    });

    it('a body still being uploaded holds its slot; a caller gone mid-upload gives it back', async () => {
      shedder = createLoadShedder({ maxConcurrent: 1, maxEventLoopLagMs: 10_000 });
      const { send, port, close } = await listen(shedder, { hook: true });
      try {
        const partial = request({
          port,
          host: '127.0.0.1',
          method: 'POST',
          path: '/v1/x',
          agent: false,
          headers: { 'content-type': 'application/json', 'content-length': '100' },
        });
        partial.on('error', () => undefined);
        partial.write('{"hold":');
        for (let i = 0; i < 200 && shedder.inFlight < 1; i++) await sleep(5);
        assert.equal(shedder.inFlight, 1, 'counted from its headers, before its body is complete');
        assert.equal((await send('{}')).status, 503);
        partial.destroy();
        for (let i = 0; i < 200 && shedder.inFlight > 0; i++) await sleep(5);
        assert.equal(shedder.inFlight, 0);
        assert.equal((await send('{}')).status, 200);
      } finally {
        await close();
      }
    });

    it('a refused request leaves its connection usable: the unread body is dropped, the retry reuses it', async () => {
      shedder = createLoadShedder({ maxConcurrent: 1, maxEventLoopLagMs: 10_000 });
      const { send, release, close } = await listen(shedder, { hook: true });
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const held = send(JSON.stringify({ hold: true }));
        for (let i = 0; i < 200 && shedder.inFlight < 1; i++) await sleep(5);
        await sleep(50);
        assert.equal(shedder.inFlight, 1, 'the hook and the handler count an admitted request once');
        const body = JSON.stringify({ note: 'x'.repeat(200_000) });
        assert.equal((await send(body, agent)).status, 503);
        release();
        assert.equal((await held).status, 200);
        const retried = await send(body, agent);
        assert.deepEqual([retried.status, retried.reused], [200, true]);
      } finally {
        agent.destroy();
        await close();
      }
    });
  });
});
