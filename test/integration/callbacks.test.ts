import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { lateBound, manualClock, uniqueTenant, useSuiteResource } from '../support/gatewayHarness.js';
import { reviewerOf, submit, useReviewStack } from '../support/reviewHarness.js';

/**
 * Decision callbacks, end to end on the local task scheduler: only origins the tenant allows, the normalised
 * URL stored, the internal identity only between the scheduler and review jobs, and every attempt signed
 * afresh the Standard Webhooks way, checked by a receiver with the official library.
 */
describe('decision callbacks: allowlist, Standard Webhooks signatures, no internal token (emulators)', () => {
  const tenant = uniqueTenant();
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  // A day before every other test's clock, so that no other test's local tasks are due on this one.
  const clock = manualClock(new Date('2025-01-15T07:00:00Z'));

  const hook = lateBound(
    useSuiteResource(
      () => startReceiver(secret, clock.date),
      (r) => r.close(),
    ),
    'the webhook receiver',
  );
  const { h } = useReviewStack({
    behaviour: { a: { confidence: 0.6 } },
    clock: clock.now,
    env: () => ({
      CALLBACK_ALLOWED_ORIGINS: JSON.stringify({ [tenant]: [hook.origin] }),
      WEBHOOK_SECRETS: JSON.stringify({ [tenant]: secret }),
    }),
  });
  beforeEach(() => hook.reset());

  async function decidedWithCallback(callbackUrl: string, failures: number[] = []) {
    hook.answer(failures);
    const res = await submit(h, tenant, { callbackUrl });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    await h.takenIn(res.body.id);
    const reviewId = `rev_${res.body.id.slice(4)}`;
    await h.reviewer.post(`/v1/reviews/${reviewId}/claim`).set('Authorization', reviewerOf(tenant));
    const decided = await h.reviewer
      .post(`/v1/reviews/${reviewId}/decision`)
      .set('Authorization', reviewerOf(tenant))
      .set('Content-Type', 'application/json')
      .send({ action: 'approve' });
    assert.equal(decided.status, 200);
    return { inferenceId: res.body.id as string, reviewId };
  }

  it('refuses with 422 a callback URL on an origin the tenant does not allow', async () => {
    for (const callbackUrl of [
      'https://elsewhere.example.org/hooks',
      // The allowed host on another port is another origin.
      `http://127.0.0.1:${Number(new URL(hook.origin).port) + 1}/hooks`,
      // The gateway's own jobs endpoint: the attack this allowlist exists for.
      `${h.jobsUrl}/tasks/review-deadline`,
    ]) {
      const res = await submit(h, tenant, { callbackUrl });
      assert.equal(res.status, 422, callbackUrl);
      assert.match(res.headers['content-type'] ?? '', /^application\/problem\+json/);
    }
    // Another tenant may not use this tenant's receiver.
    const other = await submit(h, uniqueTenant(), { callbackUrl: `${hook.origin}/hooks` });
    assert.equal(other.status, 422);
  });

  it('sends the decided resource, signed on every attempt, with no internal token, until the receiver takes it', async () => {
    const { inferenceId, reviewId } = await decidedWithCallback(
      `${hook.origin.replace('http:', 'HTTP:')}/a/../hooks/inference?x=1`,
      [503, 500],
    );
    const stored = await h.firestore.collection('inferences').doc(inferenceId).get();
    assert.equal(
      stored.get('callbackUrl'),
      `${hook.origin}/hooks/inference?x=1`,
      'the normalised URL is stored',
    );

    assert.ok((await h.runner.runDue()).attempted >= 1);
    assert.equal(hook.calls.length, 1);
    clock.advance(1_000);
    await h.runner.runDue();
    assert.equal(hook.calls.length, 2);
    clock.advance(2_000);
    await h.runner.runDue();
    assert.equal(hook.calls.length, 3);
    clock.advance(60_000);
    await h.runner.runDue();
    assert.equal(hook.calls.length, 3, 'a delivered callback is not sent again');

    const resource = await h.inference
      .get(`/v1/inferences/${inferenceId}`)
      .set('Authorization', `Bearer dev:${tenant}:clinician:alice`);
    for (const call of hook.calls) {
      assert.equal(call.path, '/hooks/inference?x=1');
      assert.equal(call.verified, true, call.error);
      assert.deepEqual(JSON.parse(call.body), resource.body);
      assert.equal(call.headers['content-type'], 'application/json');
      assert.equal(call.headers.authorization, undefined, 'no credential of ours leaves the gateway');
      assert.equal(call.headers['x-cloudtasks-taskname'], undefined);
    }
    assert.equal(JSON.parse(hook.calls[2]!.body).status, 'completed');
    // One message: one id on every attempt; each attempt signed at its own time.
    assert.deepEqual(new Set(hook.calls.map((c) => c.headers['webhook-id'])).size, 1);
    assert.match(String(hook.calls[0]!.headers['webhook-id']), new RegExp(reviewId));
    assert.deepEqual(
      hook.calls.map((c) => Number(c.headers['webhook-timestamp'])),
      hook.calls.map((c) => Math.floor(c.receivedAt.getTime() / 1000)),
    );
    assert.equal(new Set(hook.calls.map((c) => c.headers['webhook-signature'])).size, 3);
  });

  it('a callback whose receiver redirects is not followed, and retried', async () => {
    await decidedWithCallback(`${hook.origin}/hooks/redirecting`, [307]);
    await h.runner.runDue();
    assert.equal(hook.calls.length, 1);
    assert.equal(hook.redirectFollowed, false);
    clock.advance(1_000);
    await h.runner.runDue();
    assert.equal(hook.calls.length, 2, 'the 307 counted as a failed attempt');
  });

  it('review jobs accepts the callback task only from our task identity', async () => {
    const task = (auth?: string) => {
      const req = h.jobs.post('/tasks/review-callback').set('Content-Type', 'application/json');
      return (auth ? req.set('Authorization', auth) : req).send({ reviewId: 'rev_x' });
    };
    assert.equal((await task()).status, 401);
    assert.equal((await task(reviewerOf(tenant))).status, 401);
    assert.equal((await task(h.serviceToken('mallory@local.test'))).status, 403);
    const ok = await task(h.serviceToken());
    assert.equal(ok.status, 200);
    assert.equal(ok.body.outcome, 'none');
  });
});

type Call = {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  receivedAt: Date;
  verified: boolean;
  error?: string;
};

/**
 * A webhook receiver as a customer would write one: it verifies each call with the standardwebhooks library
 * at the moment it arrives (the gateway's clock, which the test moves), then answers the given statuses
 * first, then 204. `/hooks/redirecting` redirects to `/hooks/landed`.
 */
async function startReceiver(secret: string, now: () => Date) {
  const webhook = new Webhook(secret);
  const calls: Call[] = [];
  let failures: number[] = [];
  let redirectFollowed = false;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      if (req.url === '/hooks/landed') {
        redirectFollowed = true;
        res.statusCode = 204;
        res.end();
        return;
      }
      const receivedAt = now();
      const call: Call = { path: req.url ?? '', headers: req.headers, body, receivedAt, verified: false };
      try {
        verifyAt(receivedAt, () => webhook.verify(body, req.headers as Record<string, string>));
        call.verified = true;
      } catch (e) {
        call.error = e instanceof Error ? e.message : String(e);
      }
      calls.push(call);
      const status = failures[calls.length - 1] ?? 204;
      res.statusCode = status;
      if (status === 307) res.setHeader('Location', '/hooks/landed');
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    get redirectFollowed() {
      return redirectFollowed;
    },
    answer(statuses: number[]) {
      failures = statuses;
    },
    reset() {
      calls.length = 0;
      failures = [];
      redirectFollowed = false;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The library checks the timestamp against Date.now(); the receiver's "now" is the test's clock. */
function verifyAt(at: Date, verify: () => unknown): void {
  const realNow = Date.now;
  Date.now = () => at.getTime();
  try {
    verify();
  } finally {
    Date.now = realNow;
  }
}
