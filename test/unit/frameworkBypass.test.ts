import assert from 'node:assert/strict';
import { type HttpFunction, http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import supertest from 'supertest';
import { installProblemFinalHandler } from '../../functions/src/http/frameworkErrors.js';

/**
 * The framework hook serves the instance's function itself (`serve`, what index.ts passes for FUNCTION_TARGET),
 * without the framework's Express routing and middleware. A function must see every request exactly as the
 * framework would have handed it over: the same method, path, query, parsed body and raw body, and an Express
 * request and response (`req.get`, `res.status`).
 */
describe("the framework hook serves the instance's function without Express routing", () => {
  /** Echoes what our handlers read of a request, and whether the framework's middleware ran. */
  const probe: HttpFunction = (req, res) => {
    res.status(200).json({
      method: req.method,
      path: req.path,
      query: req.query,
      body: req.body ?? null,
      rawBody: (req as { rawBody?: Buffer }).rawBody?.toString('base64') ?? null,
      header: req.get('x-probe') ?? null,
      // Set by the framework's execution-context middleware: present only when the framework routed it.
      routedByFramework: (req as { executionId?: string }).executionId !== undefined,
    });
  };
  http('bypassProbe', probe);

  afterEach(() => installProblemFinalHandler()); // the hook is process-wide: nothing served directly for others

  /** One request, as supertest sends it to a test server. */
  type Send = (api: ReturnType<typeof supertest>) => supertest.Test;
  const requests: Record<string, Send> = {
    'JSON POST': (api) =>
      api
        .post('/v1/inferences')
        .set('x-probe', 'a')
        .send({ task: 't', input: { text: 'n' } }),
    'GET with a query and an encoded path': (api) =>
      api.get('/v1/review-items/rev%2F1?state=pending&limit=5'),
    'text body': (api) => api.post('/x').set('content-type', 'text/plain').send('plain words'),
    'form body': (api) =>
      api
        .post('/x')
        .type('form')
        .send({ a: '1', b: ['2', '3'] }),
    'binary body': (api) =>
      api
        .put('/x')
        .set('content-type', 'application/octet-stream')
        .send(Buffer.from([0, 1, 2])),
    'empty DELETE': (api) => api.delete('/v1/x'),
    'malformed JSON': (api) =>
      api.post('/v1/inferences').set('content-type', 'application/json').send('{"task":'),
    'body over the limit': (api) =>
      api
        .post('/v1/inferences')
        .set('content-type', 'application/json')
        .send(`"${'x'.repeat(300 * 1024)}"`),
  };

  async function answers(serve: boolean) {
    installProblemFinalHandler(serve ? { serve: probe } : {});
    const out: Record<string, { status: number; type: string | undefined; body: unknown }> = {};
    for (const [what, send] of Object.entries(requests)) {
      const res = await send(supertest(getTestServer('bypassProbe')));
      const body = res.body as { routedByFramework?: boolean } | undefined;
      if (body && typeof body === 'object') delete body.routedByFramework;
      out[what] = { status: res.status, type: res.headers['content-type'], body: res.body };
    }
    return out;
  }

  it('hands the function the request the framework would have handed it', async () => {
    const routed = await answers(false);
    const served = await answers(true);
    assert.deepEqual(served, routed);
    // The matrix reached the function (and the hook's own refusals): not two identical failures.
    assert.equal(served['JSON POST']?.status, 200);
    const query = served['GET with a query and an encoded path']?.body as { query?: unknown } | undefined;
    assert.deepEqual(query?.query, { state: 'pending', limit: '5' });
    assert.equal(served['malformed JSON']?.status, 400);
    assert.equal(served['body over the limit']?.status, 413);
  });

  it('skips the framework middleware only when given the function', async () => {
    installProblemFinalHandler({ serve: probe });
    const direct = await supertest(getTestServer('bypassProbe')).get('/');
    assert.equal(direct.body.routedByFramework, false);
    installProblemFinalHandler();
    const routed = await supertest(getTestServer('bypassProbe')).get('/');
    assert.equal(routed.body.routedByFramework, true);
  });

  it('answers a function that rejects with a 500 problem document', async () => {
    installProblemFinalHandler({
      serve: async () => {
        throw new Error('boom');
      },
    });
    const res = await supertest(getTestServer('bypassProbe')).get('/');
    assert.equal(res.status, 500);
    assert.match(res.headers['content-type'] ?? '', /^application\/problem\+json/);
    assert.equal(res.body.status, 500);
  });

  it('answers a function that throws before its first await with a 500 problem document', async () => {
    installProblemFinalHandler({
      serve: () => {
        throw new Error('boom');
      },
    });
    const res = await supertest(getTestServer('bypassProbe')).get('/');
    assert.equal(res.status, 500);
    assert.match(res.headers['content-type'] ?? '', /^application\/problem\+json/);
  });
});
