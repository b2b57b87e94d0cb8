import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import supertest from 'supertest';
import { bearer, medicationNote, uniqueTenant, useGatewayStack } from '../support/gatewayHarness.js';

const valid = { task: 'medication-extraction', input: { text: medicationNote } };
const MiB = 1024 * 1024;

function assertProblem(
  res: { status: number; headers: Record<string, unknown>; body: unknown },
  status: number,
) {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.match(String(res.headers['content-type'] ?? ''), /^application\/problem\+json/);
  assert.equal((res.body as { status?: unknown }).status, status);
}

/**
 * Hostile edges of a request, through the Functions Framework's own server (body parsing and all): path ids
 * that are not ids, bodies far over the limit, and the two spellings of an Idempotency-Key.
 */
describe('request edges: path ids, body limit, Idempotency-Key spellings (emulators)', () => {
  let reviewer: ReturnType<typeof supertest>;
  let tenant: string;
  const clinician = () => bearer(tenant, 'clinician', 'alice');

  const { gw } = useGatewayStack();
  before(async () => {
    const name = `reviewerApi-${randomUUID().slice(0, 8)}`;
    http(name, gw.gateway.reviewerApi);
    reviewer = supertest(getTestServer(name));
  });
  beforeEach(() => {
    tenant = uniqueTenant();
  });

  describe('malformed path ids answer 404, never 500, and never reach Firestore', () => {
    const malformed = [
      ['an encoded slash', 'a%2Fb'],
      ['a reserved Firestore id', '__x__'],
      ['1,501 bytes', 'x'.repeat(1_497)],
      ['dot segments', '..'],
      ['a space', 'a%20b'],
      ['non-ASCII', '%C3%A9'],
    ] as const;
    for (const [name, tail] of malformed) {
      it(`GET /v1/inferences/{id}: ${name}`, async () => {
        for (const id of [`inf_${tail}`, tail]) {
          const res = await gw.api.get(`/v1/inferences/${id}`).set('Authorization', clinician());
          assertProblem(res, 404);
        }
      });
      it(`POST /v1/reviews/{id}/claim and /decision: ${name}`, async () => {
        const auth = bearer(tenant, 'reviewer', 'rita');
        for (const id of [`rev_${tail}`, tail]) {
          assertProblem(await reviewer.post(`/v1/reviews/${id}/claim`).set('Authorization', auth), 404);
          const decision = await reviewer
            .post(`/v1/reviews/${id}/decision`)
            .set('Authorization', auth)
            .set('Content-Type', 'application/json')
            .send({ action: 'approve' });
          assertProblem(decision, 404);
        }
      });
    }

    it('nothing unexpected was logged', () => {
      assert.equal(
        gw.logLines.filter((l) => l.includes('unexpected error')).length,
        0,
        gw.logLines.filter((l) => l.includes('unexpected error')).join('\n'),
      );
    });
  });

  describe('the body limit holds before the body is read', () => {
    let server: Server;
    let url: URL;
    let calls = 0;
    before(async () => {
      const name = `inferenceApi-counted-${randomUUID().slice(0, 8)}`;
      http(name, (req, res) => {
        calls++;
        return gw.gateway.inferenceApi(req, res);
      });
      server = getTestServer(name);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/inferences`);
    });
    after(async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    beforeEach(() => {
      calls = 0;
    });

    const headers = () => ({
      Authorization: clinician(),
      'Content-Type': 'application/json',
      'Idempotency-Key': randomUUID(),
    });

    it('a declared 32 MiB body is answered 413 while the client has sent only 64 KiB of it', async () => {
      const req = httpRequest(url, {
        method: 'POST',
        headers: { ...headers(), 'Content-Length': String(32 * MiB) },
      });
      req.on('error', () => undefined); // the server closes the connection the body was still coming on
      const answered = new Promise<IncomingMessage>((resolve) => req.on('response', resolve));
      req.write(`{"task":"clinical-summary","input":{"text":"${'a'.repeat(64 * 1024)}`);
      // The rest of the body is never sent: an answer can only come from a server that did not wait for it.
      const res = await answered;
      const body = JSON.parse(await text(res));
      assertProblem({ status: res.statusCode!, headers: res.headers, body }, 413);
      assert.equal(res.headers.connection, 'close');
      assert.equal(calls, 0, 'the function never ran');
      req.destroy();
    });

    it('a chunked 32 MiB body (no Content-Length) is refused 413 and never handed to the function', async () => {
      const req = httpRequest(url, { method: 'POST', headers: headers() });
      req.on('error', () => undefined);
      const answered = new Promise<IncomingMessage>((resolve) => req.on('response', resolve));
      const chunk = 'a'.repeat(MiB);
      req.write('{"task":"clinical-summary","input":{"text":"');
      for (let i = 0; i < 32; i++) req.write(chunk);
      req.end('"}}');
      const res = await answered;
      const body = JSON.parse(await text(res));
      assertProblem({ status: res.statusCode!, headers: res.headers, body }, 413);
      assert.equal(calls, 0, 'the function never saw a parsed 32 MiB body');
    });

    it('a body of 200 KB (100,000 two-byte characters) still reaches the function', async () => {
      const body = JSON.stringify({ task: 'clinical-summary', input: { text: 'é'.repeat(100_000) } });
      assert.ok(Buffer.byteLength(body) > 200_000);
      const res = await fetch(url, { method: 'POST', headers: headers(), body });
      assert.ok([200, 202].includes(res.status), await res.text());
      assert.equal(calls, 1);
    });
  });

  describe('Idempotency-Key as a structured-field string', () => {
    const post = (key: string) =>
      gw.api
        .post('/v1/inferences')
        .set('Authorization', clinician())
        .set('Content-Type', 'application/json')
        .set('Idempotency-Key', key)
        .send(JSON.stringify(valid));

    it('"abc" and abc are the same key', async () => {
      const key = `k-${randomUUID()}`;
      const first = await post(`"${key}"`);
      assert.equal(first.status, 200);
      assert.equal(first.headers['idempotent-replayed'], undefined);
      const bare = await post(key);
      assert.equal(bare.status, 200);
      assert.equal(bare.headers['idempotent-replayed'], 'true');
      assert.equal(bare.body.id, first.body.id);
      const quotedAgain = await post(`"${key}"`);
      assert.equal(quotedAgain.headers['idempotent-replayed'], 'true');
      assert.equal(quotedAgain.body.id, first.body.id);
    });

    it('escapes are read as RFC 8941 says: "a\\"b" is the key a"b', async () => {
      const key = `k-${randomUUID()}`;
      const first = await post(`"${key}\\"x"`);
      assert.equal(first.status, 200);
      const bare = await post(`${key}"x`);
      assert.equal(bare.headers['idempotent-replayed'], 'true');
      assert.equal(bare.body.id, first.body.id);
    });

    for (const [name, key] of [
      ['an unterminated sf-string', '"abc'],
      ['an sf-string with a bad escape', '"a\\x"'],
      ['an empty sf-string', '""'],
      ['an sf-string holding a space', '"a b"'],
      ['an sf-string followed by junk', '"abc" def'],
      ['a bare key with a space', 'a b'],
      ['256 characters', 'k'.repeat(256)],
    ] as const) {
      it(`400: ${name}`, async () => {
        assertProblem(await post(key), 400);
      });
    }
  });
});

async function text(res: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of res) body += chunk;
  return body;
}
