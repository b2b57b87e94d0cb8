import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { bearer, medicationNote, uniqueTenant, useGatewayStack } from '../support/gatewayHarness.js';

const valid = { task: 'medication-extraction', input: { text: medicationNote } };

function assertProblem(
  res: { status: number; headers: Record<string, string>; body: Record<string, unknown> },
  status: number,
) {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.match(res.headers['content-type'] ?? '', /^application\/problem\+json/);
  assert.equal(res.body.status, status);
  assert.equal(typeof res.body.type, 'string');
  assert.equal(typeof res.body.title, 'string');
  assert.equal(typeof res.body.detail, 'string');
  assert.doesNotMatch(JSON.stringify(res.body), /\bat .+\.(js|ts):\d+|metformin|lisinopril/);
}

describe('inference API error statuses (problem+json)', () => {
  let tenant: string;
  const clinician = () => bearer(tenant, 'clinician', 'alice');

  const { gw } = useGatewayStack();
  beforeEach(() => {
    tenant = uniqueTenant();
  });

  const post = () => gw.api.post('/v1/inferences').set('Content-Type', 'application/json');

  it('400: missing Idempotency-Key', async () => {
    const res = await post().set('Authorization', clinician()).send(JSON.stringify(valid));
    assertProblem(res, 400);
  });

  it('400: malformed JSON, answered by our problem handler rather than the framework’s HTML', async () => {
    const res = await post()
      .set('Authorization', clinician())
      .set('Idempotency-Key', randomUUID())
      .send('{"task": ');
    assertProblem(res, 400);
  });

  it('400: a body failing validation lists the field problems', async () => {
    const res = await post()
      .set('Authorization', clinician())
      .set('Idempotency-Key', randomUUID())
      .send(JSON.stringify({ task: 'unknown-task', input: { text: '' }, extra: 1 }));
    assertProblem(res, 400);
    const paths = (res.body.errors as { path: string }[]).map((e) => e.path);
    assert.ok(paths.includes('task'));
    assert.ok(paths.includes('input.text'));
    assert.ok(paths.includes('(root)'), 'the unknown field is reported');
  });

  it('401: no token, with WWW-Authenticate: Bearer', async () => {
    const res = await post().set('Idempotency-Key', randomUUID()).send(JSON.stringify(valid));
    assertProblem(res, 401);
    assert.equal(res.headers['www-authenticate'], 'Bearer');
  });

  it('401: an invalid token', async () => {
    const res = await post()
      .set('Authorization', 'Bearer dev:acme:surgeon:alice')
      .set('Idempotency-Key', randomUUID())
      .send(JSON.stringify(valid));
    assertProblem(res, 401);
  });

  it('403: a valid token without the clinician role', async () => {
    const res = await post()
      .set('Authorization', bearer(tenant, 'reviewer', 'rita'))
      .set('Idempotency-Key', randomUUID())
      .send(JSON.stringify(valid));
    assertProblem(res, 403);
  });

  it('404: an unknown inference, another tenant’s inference, an unknown path', async () => {
    assertProblem(await gw.api.get('/v1/inferences/inf_nope').set('Authorization', clinician()), 404);
    const made = await post()
      .set('Authorization', clinician())
      .set('Idempotency-Key', randomUUID())
      .send(JSON.stringify(valid));
    assert.equal(made.status, 200);
    const other = bearer(uniqueTenant(), 'clinician', 'mallory');
    assertProblem(await gw.api.get(`/v1/inferences/${made.body.id}`).set('Authorization', other), 404);
    assertProblem(await gw.api.get('/v1/nothing-here').set('Authorization', clinician()), 404);
  });

  it('405: a known path with the wrong method, with Allow', async () => {
    const res = await gw.api.delete('/v1/inferences').set('Authorization', clinician());
    assertProblem(res, 405);
    assert.equal(res.headers.allow, 'POST');
  });

  it('413: a body over 256 KiB', async () => {
    const huge = JSON.stringify({ task: 'clinical-summary', input: { text: 'a'.repeat(300 * 1024) } });
    const res = await post()
      .set('Authorization', clinician())
      .set('Idempotency-Key', randomUUID())
      .send(huge);
    assertProblem(res, 413);
  });

  it('415: a body that is not JSON', async () => {
    const res = await gw.api
      .post('/v1/inferences')
      .set('Authorization', clinician())
      .set('Idempotency-Key', randomUUID())
      .set('Content-Type', 'text/plain')
      .send('metformin 500 mg');
    assertProblem(res, 415);
  });

  it('healthz answers 200 {"status":"ok"} once Firestore is reachable', async () => {
    const res = await gw.api.get('/healthz');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { status: 'ok' });
  });
});

describe('inference API bad-input table: never a 5xx, never a crash', () => {
  const tenant = uniqueTenant();

  const { gw } = useGatewayStack();

  type Case = { name: string; body: string; key?: string; contentType?: string; expect: number[] };
  const j = (v: unknown) => JSON.stringify(v);
  const cases: Case[] = [
    { name: 'empty body', body: '', expect: [400] },
    { name: 'JSON null', body: 'null', expect: [400] },
    { name: 'JSON array', body: '[]', expect: [400] },
    { name: 'JSON string', body: '"hello"', expect: [400] },
    { name: 'JSON number', body: '42', expect: [400] },
    { name: 'truncated JSON', body: '{"task":"medication-extraction","input":{"text":"x"', expect: [400] },
    { name: 'trailing garbage', body: `${j(valid)}xyz`, expect: [400] },
    { name: 'task of wrong type', body: j({ task: 7, input: { text: 'x' } }), expect: [400] },
    { name: 'input of wrong type', body: j({ task: 'clinical-summary', input: 'text' }), expect: [400] },
    {
      name: 'text of wrong type',
      body: j({ task: 'clinical-summary', input: { text: ['a'] } }),
      expect: [400],
    },
    { name: 'text empty', body: j({ task: 'clinical-summary', input: { text: '' } }), expect: [400] },
    {
      name: 'text over 100,000 characters',
      body: j({ task: 'clinical-summary', input: { text: 'b'.repeat(100_001) } }),
      expect: [400],
    },
    {
      name: 'text of exactly 100,000 characters',
      body: j({ task: 'clinical-summary', input: { text: 'Stable. '.repeat(12_500) } }),
      expect: [200, 202],
    },
    { name: 'unknown top-level field', body: j({ ...valid, priority: 'high' }), expect: [400] },
    { name: 'unknown input field', body: j({ ...valid, input: { text: 'x', lang: 'en' } }), expect: [400] },
    {
      name: 'prototype pollution attempt',
      body: '{"task":"clinical-summary","input":{"text":"x"},"__proto__":{"admin":true}}',
      expect: [400],
    },
    { name: 'patientRef too long', body: j({ ...valid, patientRef: 'p'.repeat(129) }), expect: [400] },
    { name: 'patientRef of wrong type', body: j({ ...valid, patientRef: 12 }), expect: [400] },
    {
      name: 'callbackUrl not https',
      body: j({ ...valid, callbackUrl: 'ftp://example.org/x' }),
      expect: [400],
    },
    {
      name: 'callbackUrl with credentials',
      body: j({ ...valid, callbackUrl: 'https://u:p@example.org/x' }),
      expect: [400],
    },
    { name: 'callbackUrl garbage', body: j({ ...valid, callbackUrl: 'not a url' }), expect: [400] },
    {
      name: 'lone surrogate in text',
      body: '{"task":"clinical-summary","input":{"text":"pain \\ud800 severe"}}',
      expect: [400],
    },
    {
      name: 'NUL and control characters',
      body: j({ task: 'clinical-summary', input: { text: 'BP 120/80\u0000\u0007 stable.' } }),
      expect: [200, 202],
    },
    {
      name: 'emoji, RTL and combining marks',
      body: j({
        task: 'medication-extraction',
        input: { text: 'المريض يتناول metformin 500 mg 💊 twice daily; e\u0301' },
      }),
      expect: [200, 202],
    },
    {
      name: 'zero-width and BOM',
      body: j({ task: 'icd10-suggestion', input: { text: '\ufeffhyper\u200btension and asthma' } }),
      expect: [200, 202],
    },
    { name: 'deeply nested JSON', body: `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`, expect: [400] },
    { name: 'missing Idempotency-Key', body: j(valid), key: '', expect: [400] },
    { name: 'key too long', body: j(valid), key: 'k'.repeat(256), expect: [400] },
    { name: 'key with a space', body: j(valid), key: 'has space', expect: [400] },
    { name: 'key with non-ASCII', body: j(valid), key: 'clé', expect: [400] },
    {
      name: 'content type with charset',
      body: j(valid),
      contentType: 'application/json; charset=utf-8',
      expect: [200, 202],
    },
    {
      name: 'content type form-encoded',
      body: 'task=x',
      contentType: 'application/x-www-form-urlencoded',
      expect: [415],
    },
    {
      name: 'JSON with an unsupported charset',
      body: j(valid),
      contentType: 'application/json; charset=latin-9000',
      expect: [415],
    },
  ];

  for (const c of cases) {
    it(c.name, async () => {
      const req = gw.api
        .post('/v1/inferences')
        .set('Authorization', bearer(tenant, 'clinician', 'alice'))
        .set('Content-Type', c.contentType ?? 'application/json');
      const key = c.key ?? randomUUID();
      // Headers with non-ASCII bytes must go out as raw bytes, as a misbehaving client would send them.
      if (key !== '') req.set('Idempotency-Key', Buffer.from(key, 'utf8').toString('latin1'));
      const res = await req.send(c.body);
      assert.ok(res.status < 500, `got ${res.status}: ${res.text.slice(0, 200)}`);
      assert.ok(
        c.expect.includes(res.status),
        `expected ${c.expect.join('/')}, got ${res.status}: ${res.text.slice(0, 300)}`,
      );
      if (res.status >= 400) assert.match(res.headers['content-type'] ?? '', /^application\/problem\+json/);
    });
  }

  it('is still serving after the table', async () => {
    const res = await gw.api.get('/healthz');
    assert.equal(res.status, 200);
  });
});
