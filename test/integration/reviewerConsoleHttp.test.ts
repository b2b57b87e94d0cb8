import assert from 'node:assert/strict';
import { createSign, generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import supertest from 'supertest';
import { createGatewayClient, type ReviewOverview } from '../../functions/client/gatewayClient.js';
import { buildConsole } from '../../functions/console/build.js';
import { DevAuthenticator } from '../../functions/src/adapters/auth/devAuthenticator.js';
import { IapJwtAuthenticator } from '../../functions/src/adapters/auth/iapJwtAuthenticator.js';
import { createLogger } from '../../functions/src/adapters/logging/structuredLog.js';
import type { Principal } from '../../functions/src/core/auth/principal.js';
import { StateConflictError } from '../../functions/src/core/errors.js';
import type { ReviewOverview as ReviewOverviewOfCore } from '../../functions/src/core/review/reviewOverview.js';
import type { ReviewService } from '../../functions/src/core/review/reviewService.js';
import { installProblemFinalHandler } from '../../functions/src/http/frameworkErrors.js';
import { createReviewerApi } from '../../functions/src/http/reviewerApi.js';
import { checkAnswersAgainstContract, takeContractViolations } from '../support/contractHook.js';
import { uniqueTenant } from '../support/gatewayHarness.js';
import { submit, useReviewStack } from '../support/reviewHarness.js';

/**
 * The reviewer function's console surface through the Functions Framework: the built console's files with
 * their CSP and cache headers, `GET /v1/me`, the admin overview's role check, and IAP's signed header as one
 * more way in. Every API answer is checked against the OpenAPI document by the shared contract hook (the
 * console's files are a web page, outside the document: the hook skips them and the tests here check them).
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
  const emptyOverview: ReviewOverview = {
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
  };
  let overviewAnswer: unknown = emptyOverview;

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
          overview: async () => {
            if (overviewAnswer instanceof Error) throw overviewAnswer;
            return overviewAnswer as ReviewOverviewOfCore;
          },
        },
        consoleDir: dir,
        maxBodyBytes: 1024,
        healthy: async () => true,
        logger: createLogger('reviewerApi', () => undefined),
      }),
    );
    api = supertest(checkAnswersAgainstContract(getTestServer(name), 'reviewer'));
  });
  beforeEach(() => {
    overviewAnswer = emptyOverview;
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

  it('the contract hook fails an overview field or a status the document does not name', async () => {
    overviewAnswer = { ...emptyOverview, queue: { ...emptyOverview.queue, depth: 0 } };
    await api.get('/v1/admin/overview').set('Authorization', 'Bearer dev:acme:admin:ada').expect(200);
    overviewAnswer = {
      ...emptyOverview,
      agreement: {
        ...emptyOverview.agreement,
        tasks: [{ task: 'medication-extraction', thresholds: [0.8], reviewed: 0, bands: [{ low: 0 }] }],
      },
    };
    await api.get('/v1/admin/overview').set('Authorization', 'Bearer dev:acme:admin:ada').expect(200);
    // A state conflict is a 409 elsewhere; the overview documents none.
    overviewAnswer = new StateConflictError('held by someone else');
    await api.get('/v1/admin/overview').set('Authorization', 'Bearer dev:acme:admin:ada').expect(409);
    const found = takeContractViolations();
    assert.equal(found.length, 3, found.join('\n'));
    assert.match(
      found[0]!,
      /GET \/v1\/admin\/overview → 200: body \/queue must NOT have additional properties \(depth\)/,
    );
    assert.match(found[1]!, /\/agreement\/tasks\/0\/bands\/0 must have required property/);
    assert.match(found[2]!, /status 409 is not documented for GET \/v1\/admin\/overview/);
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

/**
 * `GET /v1/me` and `GET /v1/admin/overview` of the real reviewer function (review pipeline on the emulators),
 * through the typed client the console uses: figures computed from real review items and breakers, each
 * answer checked against the document by the harness.
 */
describe('reviewer function: /v1/me and the admin overview on real review items', function () {
  this.timeout(60_000);

  const { models, h } = useReviewStack();

  it("counts the tenant's queue and its reviewers' decisions by confidence band", async () => {
    const tenant = uniqueTenant();
    const client = (token: string) => createGatewayClient({ baseUrl: h.reviewerUrl, token: () => token });
    const admin = client(`dev:${tenant}:admin:ada`);
    const rita = client(`dev:${tenant}:reviewer:rita`);

    const me = await admin.GET('/v1/me');
    assert.deepEqual(me.data, { subject: 'ada', tenant, roles: ['admin'] });

    await models.a.setBehaviour({ confidence: 0.41 });
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const res = await submit(h, tenant).expect(202);
      ids.push(res.body.id);
      await h.takenIn(res.body.id);
    }
    const queue = await rita.GET('/v1/reviews', { params: { query: { state: 'pending' } } });
    const first = queue.data!.items.find((item) => item.inferenceId === ids[0])!;
    await rita.POST('/v1/reviews/{id}/claim', { params: { path: { id: first.id } } });
    const decided = await rita.POST('/v1/reviews/{id}/decision', {
      params: { path: { id: first.id } },
      body: { action: 'reject', reasonCode: 'unsafe' },
    });
    assert.equal(decided.data?.state, 'rejected');

    const { data, response } = await admin.GET('/v1/admin/overview');
    assert.equal(response.status, 200);
    assert.ok(data);
    assert.equal(data.queue.undecided, 1);
    assert.equal(data.queue.pending, 1);
    assert.deepEqual(data.queue.byTask, { 'medication-extraction': 1 });
    assert.equal(data.agreement.decisions, 1);
    const [task] = data.agreement.tasks;
    assert.equal(task?.task, 'medication-extraction');
    assert.deepEqual(task.thresholds, [0.8]);
    const band = task.bands.find((b) => b.low <= 0.41 && 0.41 < b.high);
    assert.deepEqual(band && { reviewed: band.reviewed, rejected: band.rejected }, {
      reviewed: 1,
      rejected: 1,
    });

    // Another tenant's admin sees none of it; a reviewer without the admin role is refused.
    const other = await client(`dev:${uniqueTenant()}:admin:ada`).GET('/v1/admin/overview');
    assert.equal(other.data?.queue.undecided, 0);
    assert.equal(other.data?.agreement.decisions, 0);
    const refused = await rita.GET('/v1/admin/overview');
    assert.equal(refused.response.status, 403);
    assert.equal(refused.error?.type, 'tag:clinical-ai-gateway,2026:problems/forbidden');
  });
});
