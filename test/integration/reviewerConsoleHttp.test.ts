import assert from 'node:assert/strict';
import { createSign, generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import supertest from 'supertest';
import { buildConsole } from '../../functions/console/build.js';
import { DevAuthenticator } from '../../functions/src/adapters/auth/devAuthenticator.js';
import { IapJwtAuthenticator } from '../../functions/src/adapters/auth/iapJwtAuthenticator.js';
import type { Principal } from '../../functions/src/core/auth/principal.js';
import type { ReviewService } from '../../functions/src/core/review/reviewService.js';
import { installProblemFinalHandler } from '../../functions/src/http/frameworkErrors.js';
import { createReviewerApi } from '../../functions/src/http/reviewerApi.js';

/**
 * The reviewer function's console surface through the Functions Framework: the built console's files with
 * their CSP and cache headers, `GET /v1/me`, the admin overview's role check, and IAP's signed header as one
 * more way in.
 */

const audience = '/projects/123456789012/global/backendServices/42';
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const priv = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

function iapAssertion(email: string): string {
  const now = Math.floor(Date.now() / 1000);
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const unsigned = `${b64({ alg: 'ES256', typ: 'JWT', kid: 'iap-1' })}.${b64({
    iss: 'https://cloud.google.com/iap',
    aud: audience,
    email,
    sub: `accounts.google.com:${email}`,
    iat: now,
    exp: now + 600,
  })}`;
  const sig = createSign('SHA256').update(unsigned).sign({ key: priv, dsaEncoding: 'ieee-p1363' });
  return `${unsigned}.${sig.toString('base64url')}`;
}

describe('reviewer function: console files, /v1/me, admin overview, IAP header', function () {
  this.timeout(60_000);
  let dir: string;
  let api: ReturnType<typeof supertest>;
  const listedFor: Principal[] = [];

  before(async () => {
    installProblemFinalHandler();
    dir = mkdtempSync(path.join(os.tmpdir(), 'console-build-'));
    await buildConsole(dir);
    const name = `reviewerApi-console-${randomUUID().slice(0, 8)}`;
    http(
      name,
      createReviewerApi({
        authenticator: new DevAuthenticator(),
        iap: new IapJwtAuthenticator({
          audience,
          principals: { 'rita@hospital.example': { tenant: 'acme', roles: ['reviewer'] } },
          getPublicKeys: async () => ({
            'iap-1': publicKey.export({ type: 'spki', format: 'pem' }).toString(),
          }),
        }),
        // Only what these routes reach; the review service itself is tested elsewhere.
        reviews: {
          list: async (principal: Principal) => {
            listedFor.push(principal);
            return [];
          },
        } as unknown as ReviewService,
        overview: {
          overview: async () => ({
            generatedAt: new Date(0).toISOString(),
            providers: [],
            queue: {
              undecided: 0,
              pending: 0,
              claimed: 0,
              escalated: 0,
              sampled: 0,
              oldestCreatedAt: null,
              oldestAgeSeconds: null,
              byTask: {},
              truncated: false,
            },
            agreement: { bandWidth: 0.1, decisions: 0, tasks: [], truncated: false },
          }),
        },
        consoleDir: dir,
        maxBodyBytes: 1024,
        healthy: async () => true,
        onUnexpectedError: () => undefined,
      }),
    );
    api = supertest(getTestServer(name));
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('serves the page without authentication, under a CSP with no inline script or other origin', async () => {
    const res = await api.get('/console/').expect(200);
    assert.match(res.headers['content-type']!, /^text\/html/);
    assert.equal(res.headers['cache-control'], 'no-cache');
    const csp = res.headers['content-security-policy']!;
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe-|https?:|\*/);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    // No inline script: every script the page runs is a file of its own origin.
    assert.doesNotMatch(res.text, /<script(?![^>]*\ssrc=)[^>]*>/);
    assert.doesNotMatch(res.text, /\sstyle=|<style/);
  });

  it('caches hashed assets for a year and answers 304 to a matching ETag', async () => {
    const page = await api.get('/console/').expect(200);
    const script = /src="\.\/(assets\/[^"]+\.js)"/.exec(page.text)?.[1];
    assert.ok(script, 'the page names its script');
    const res = await api.get(`/console/${script}`).expect(200);
    assert.match(res.headers['content-type']!, /^text\/javascript/);
    assert.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable');
    await api.get(`/console/${script}`).set('If-None-Match', res.headers.etag!).expect(304);
    await api.head(`/console/${script}`).expect(200);
  });

  const cases: [string, string, number][] = [
    ['GET', '/console', 308],
    ['GET', '/console/missing.js', 404],
    ['GET', '/console/../package.json', 404],
    ['GET', '/console/%2e%2e/package.json', 404],
    ['POST', '/console/', 405],
    ['GET', '/v1/reviews', 401],
  ];
  for (const [method, url, status] of cases) {
    it(`${method} ${url} answers ${status}`, async () => {
      const res = await api[method === 'GET' ? 'get' : 'post'](url).expect(status);
      if (status === 308) assert.equal(res.headers.location, '/console/');
      if (status >= 400) assert.match(res.headers['content-type']!, /^application\/problem\+json/);
    });
  }

  it('tells the console who is signed in', async () => {
    const res = await api.get('/v1/me').set('Authorization', 'Bearer dev:acme:reviewer:rita').expect(200);
    assert.deepEqual(res.body, { subject: 'rita', tenant: 'acme', roles: ['reviewer'] });
    await api.get('/v1/me').expect(401);
  });

  it('keeps the admin overview to admins', async () => {
    await api.get('/v1/admin/overview').set('Authorization', 'Bearer dev:acme:reviewer:rita').expect(403);
    const res = await api
      .get('/v1/admin/overview')
      .set('Authorization', 'Bearer dev:acme:admin:ada')
      .expect(200);
    assert.deepEqual(res.body.providers, []);
    await api.post('/v1/admin/overview').set('Authorization', 'Bearer dev:acme:admin:ada').expect(405);
  });

  it("takes IAP's signed header as the caller's identity, and never falls back from a bad one", async () => {
    const me = await api.get('/v1/me').set('x-goog-iap-jwt-assertion', iapAssertion('Rita@Hospital.example'));
    assert.equal(me.status, 200);
    assert.deepEqual(me.body, { subject: 'rita@hospital.example', tenant: 'acme', roles: ['reviewer'] });
    await api
      .get('/v1/reviews')
      .set('x-goog-iap-jwt-assertion', iapAssertion('rita@hospital.example'))
      .expect(200);
    assert.equal(listedFor.at(-1)?.tenant, 'acme');
    // A forged header is refused even with a valid bearer token beside it.
    await api
      .get('/v1/me')
      .set('x-goog-iap-jwt-assertion', `${iapAssertion('rita@hospital.example').slice(0, -4)}AAAA`)
      .set('Authorization', 'Bearer dev:acme:reviewer:rita')
      .expect(401);
    await api
      .get('/v1/me')
      .set('x-goog-iap-jwt-assertion', iapAssertion('stranger@hospital.example'))
      .expect(403);
  });
});
