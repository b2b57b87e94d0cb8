import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { type BreakerGateway, breakerConfig, startBreakerGateway } from '../support/breakerHarness.js';
import { bearer, manualClock, useModelServers } from '../support/gatewayHarness.js';

/** Puts a local model server into one of its fault modes (API.md, "Local model servers"). */
async function setFault(server: { url: string }, fault: string): Promise<void> {
  const res = await fetch(`${server.url}/admin/behaviour`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ fault }),
  });
  assert.equal(res.status, 204);
}

/**
 * The circuit breakers through the inference API, one gateway instance: local-a is the primary, local-b the
 * fallback (the local routing table). Time is injected; the breakers' timers never fire on their own here.
 */
describe('circuit breakers through the inference API (Firestore emulator, local model servers)', () => {
  const models = useModelServers();
  let gw: BreakerGateway | undefined;

  afterEach(async () => {
    await gw?.close();
    gw = undefined;
  });

  it('local-a failing 100%: opens within the window, traffic goes to local-b, probes close it after recovery', async () => {
    const clock = manualClock();
    gw = startBreakerGateway(breakerConfig(models), { clock });
    await models.a.setBehaviour({ failRate: 1 });

    const answers = await gw.inferMany(20);
    assert.deepEqual(new Set(answers.map((r) => `${r.status} ${r.body.provider}`)), new Set(['200 local-b']));
    assert.deepEqual(await gw.breakerOf('local-a'), {
      name: 'local-a',
      state: 'open',
      errorRate: 1,
      requests: 20,
      openedAt: clock.date().toISOString(),
    });
    assert.equal((await gw.breakerOf('local-b')).state, 'closed');

    // Open: local-a gets no calls at all, and every answer still comes, from local-b.
    const whileOpen = await gw.inferMany(5);
    assert.ok(whileOpen.every((r) => r.status === 200 && r.body.provider === 'local-b'));
    assert.equal((await models.a.stats()).requests, 20);

    await models.a.reset();
    clock.advance(30_000 - 1);
    assert.equal((await gw.inferMany(1))[0]!.body.provider, 'local-b', 'still open a millisecond before');
    assert.equal((await models.a.stats()).requests, 0);

    clock.advance(1);
    const probes = await gw.inferMany(2);
    assert.ok(probes.every((r) => r.status === 200 && r.body.provider === 'local-a'));
    assert.equal((await gw.breakerOf('local-a')).state, 'half_open', 'two of three probes succeeded so far');
    await gw.inferMany(1);
    assert.deepEqual(await gw.breakerOf('local-a'), {
      name: 'local-a',
      state: 'closed',
      errorRate: 0,
      requests: 0,
      openedAt: null,
    });
    assert.equal((await gw.inferMany(1))[0]!.body.provider, 'local-a');

    const events = gw.audit.breakerEvents();
    assert.deepEqual(
      events.map((e) => [e.eventType, e.breaker?.provider, e.breaker?.from, e.breaker?.to]),
      [
        ['breaker.opened', 'local-a', 'closed', 'open'],
        ['breaker.half_opened', 'local-a', 'open', 'half_open'],
        ['breaker.closed', 'local-a', 'half_open', 'closed'],
      ],
    );
    assert.deepEqual(events[0]!.breaker, {
      provider: 'local-a',
      from: 'closed',
      to: 'open',
      windowRequests: 20,
      windowFailures: 20,
      errorRate: 1,
    });
    for (const e of events) {
      assert.equal(e.tenant, 'system');
      assert.equal(e.inferenceId, null);
      assert.deepEqual(e.actor, { subject: 'gateway', tenant: 'system', role: 'system' });
    }
  });

  it('a failed probe re-opens the breaker for another open interval', async () => {
    const clock = manualClock();
    gw = startBreakerGateway(breakerConfig(models), { clock });
    await models.a.setBehaviour({ failRate: 1 });
    await gw.inferMany(20);
    clock.advance(30_000);
    const [probe] = await gw.inferMany(1);
    assert.equal(probe!.body.provider, 'local-b');
    assert.equal((await models.a.stats()).requests, 21, 'exactly one probe went to local-a');
    const breaker = await gw.breakerOf('local-a');
    assert.equal(breaker.state, 'open');
    assert.equal(breaker.openedAt, clock.date().toISOString());
    assert.deepEqual(
      gw.audit.breakerEvents().map((e) => e.eventType),
      ['breaker.opened', 'breaker.half_opened', 'breaker.opened'],
    );
  });

  it('exactly 5% opens it (the rule is "at or above"), once the minimum failures are in the window', async () => {
    gw = startBreakerGateway(breakerConfig(models, { BREAKER_MIN_FAILURES: '5' }));
    // The model server's schedule at 5% fails calls 20, 40, 60, 80, 100.
    await models.a.setBehaviour({ failRate: 0.05 });
    await gw.inferMany(99);
    assert.deepEqual(await gw.breakerOf('local-a'), {
      name: 'local-a',
      state: 'closed',
      errorRate: 0.040404,
      requests: 99,
      openedAt: null,
    });
    await gw.inferMany(1);
    assert.equal((await gw.breakerOf('local-a')).state, 'open');
    assert.deepEqual(gw.audit.breakerEvents()[0]?.breaker, {
      provider: 'local-a',
      from: 'closed',
      to: 'open',
      windowRequests: 100,
      windowFailures: 5,
      errorRate: 0.05,
    });
  });

  it('just under 5% keeps it closed, however many failures', async () => {
    gw = startBreakerGateway(breakerConfig(models, { BREAKER_MIN_FAILURES: '5' }));
    await models.a.setBehaviour({ failRate: 0.045 });
    await gw.inferMany(200);
    const breaker = await gw.breakerOf('local-a');
    assert.equal(breaker.state, 'closed');
    assert.equal(breaker.errorRate, 0.045);
  });

  it('below the minimum failures even 100% failures do not open it', async () => {
    gw = startBreakerGateway(breakerConfig(models));
    await models.a.setBehaviour({ failRate: 1 });
    await gw.inferMany(19);
    const below = await gw.breakerOf('local-a');
    assert.equal(below.state, 'closed');
    assert.equal(below.errorRate, 1);
    assert.equal(below.requests, 19);
    await gw.inferMany(1);
    assert.equal((await gw.breakerOf('local-a')).state, 'open');
  });

  it('waits for the minimum window age: a fresh window does not trip, however bad its first calls', async () => {
    const clock = manualClock();
    gw = startBreakerGateway(
      breakerConfig(models, { BREAKER_MIN_FAILURES: '5', BREAKER_MIN_WINDOW_SECONDS: '10' }),
      { clock },
    );
    await models.a.setBehaviour({ failRate: 1 });
    await gw.inferMany(8);
    assert.equal((await gw.breakerOf('local-a')).state, 'closed', '8 failures, but the window is brand new');
    clock.advance(10_000);
    await gw.inferMany(1);
    assert.equal((await gw.breakerOf('local-a')).state, 'open');
  });

  it('failures that leave the sliding window no longer count', async () => {
    const clock = manualClock(new Date('2026-11-27T09:00:00Z'));
    gw = startBreakerGateway(breakerConfig(models), { clock });
    await models.a.setBehaviour({ failRate: 1 });
    await gw.inferMany(15);
    await gw.breakers.flush();
    clock.advance(60_000);
    await gw.breakers.refresh();
    await gw.inferMany(15);
    const breaker = await gw.breakerOf('local-a');
    assert.equal(breaker.state, 'closed', '15 + 15 failures, but never 20 within one window');
    assert.equal(breaker.requests, 15);
  });

  it('a refusal of this input (HTTP 400 from the provider) never counts against the provider', async () => {
    gw = startBreakerGateway(breakerConfig(models));
    await models.a.setBehaviour({ failRate: 1, failStatus: 400 });
    const answers = await gw.inferMany(25);
    assert.ok(answers.every((r) => r.status === 200 && r.body.provider === 'local-b'));
    const breaker = await gw.breakerOf('local-a');
    assert.equal(breaker.state, 'closed');
    assert.equal(breaker.requests, 0);
  });

  it('slow calls past the threshold count as failures, though each one succeeded', async () => {
    gw = startBreakerGateway(
      breakerConfig(models, { BREAKER_SLOW_CALL_MS: '100', BREAKER_MIN_FAILURES: '5' }),
    );
    // Slower than the slow-call threshold, well within local-a's 2 s timeout.
    await models.a.setBehaviour({ latencyMs: 250 });
    const slow = await gw.inferMany(5);
    assert.ok(slow.every((r) => r.status === 200 && r.body.provider === 'local-a'));
    assert.equal((await gw.breakerOf('local-a')).state, 'open');
    assert.equal(gw.audit.breakerEvents()[0]?.breaker?.windowFailures, 5);
    assert.equal((await gw.inferMany(1))[0]!.body.provider, 'local-b');
  });

  it('the slowness of a huge input is not held against the provider', async () => {
    gw = startBreakerGateway(
      breakerConfig(models, {
        BREAKER_SLOW_CALL_MS: '100',
        BREAKER_MIN_FAILURES: '5',
        // The test note is longer than this: a "huge" input here.
        BREAKER_LARGE_INPUT_CHARS: '20',
      }),
    );
    await models.a.setBehaviour({ latencyMs: 250 });
    const slow = await gw.inferMany(6);
    assert.ok(slow.every((r) => r.status === 200 && r.body.provider === 'local-a'));
    assert.deepEqual(await gw.breakerOf('local-a'), {
      name: 'local-a',
      state: 'closed',
      errorRate: 0,
      requests: 6,
      openedAt: null,
    });
  });

  for (const [status, what] of [
    [404, 'a retired model name'],
    [401, 'a revoked key'],
    [403, 'a key without access'],
    [402, 'a quota or billing problem'],
  ] as const) {
    it(`HTTP ${status} from the provider (${what}) counts against it and opens the breaker`, async () => {
      gw = startBreakerGateway(breakerConfig(models));
      await models.a.setBehaviour({ failRate: 1, failStatus: status });
      const answers = await gw.inferMany(20);
      assert.ok(answers.every((r) => r.status === 200 && r.body.provider === 'local-b'));
      assert.equal((await gw.breakerOf('local-a')).state, 'open');
      assert.equal((await gw.inferMany(1))[0]!.body.provider, 'local-b');
      assert.equal(
        (await models.a.stats()).requests,
        20,
        'no more round trips to a provider that refuses all',
      );
    });
  }

  it('a probe that meets a refusal of its input settles its permit: no endless half-open of probes', async () => {
    const clock = manualClock();
    gw = startBreakerGateway(breakerConfig(models), { clock });
    await models.a.setBehaviour({ failRate: 1 });
    await gw.inferMany(20);
    clock.advance(30_000);
    await models.a.setBehaviour({ failRate: 1, failStatus: 400 });
    // Three probes (the budget): each answered, with a refusal of this input.
    await gw.inferMany(3);
    assert.equal((await gw.breakerOf('local-a')).state, 'closed');
    assert.deepEqual(
      gw.audit.breakerEvents().map((e) => e.eventType),
      ['breaker.opened', 'breaker.half_opened', 'breaker.closed'],
    );
  });

  it('a 404 during half-open is a failed probe: it re-opens the breaker', async () => {
    const clock = manualClock();
    gw = startBreakerGateway(breakerConfig(models), { clock });
    await models.a.setBehaviour({ failRate: 1 });
    await gw.inferMany(20);
    clock.advance(30_000);
    await models.a.setBehaviour({ failRate: 1, failStatus: 404 });
    await gw.inferMany(3);
    assert.equal((await gw.breakerOf('local-a')).state, 'open');
    assert.equal((await models.a.stats()).requests, 21, 'one probe, then open again');
  });

  for (const fault of [
    'wrong-schema',
    'prose',
    'html',
    'empty-choices',
    'invalid-json',
    'truncated',
  ] as const) {
    it(`a 200 with ${fault} is malformed: it counts against the provider and the chain falls back`, async () => {
      gw = startBreakerGateway(breakerConfig(models));
      await setFault(models.a, fault);
      const [res] = await gw.inferMany(1);
      assert.equal(res!.status, 200);
      assert.equal(res!.body.provider, 'local-b');
      assert.equal(res!.body.status, 'completed');
      const completed = gw.audit.events.find((e) => e.eventType === 'inference.completed');
      assert.deepEqual(
        completed?.decision?.routing?.attempts.map((a) => [a.provider, a.outcome, a.failureKind]),
        [
          ['local-a', 'failure', 'malformed'],
          ['local-b', 'success', undefined],
        ],
      );
      await gw.inferMany(19);
      assert.equal((await gw.breakerOf('local-a')).state, 'open');
    });
  }

  it('every provider refusing this input: 422 naming the cause, not retryable, key released', async () => {
    gw = startBreakerGateway(breakerConfig(models));
    await models.a.setBehaviour({ failRate: 1, failStatus: 400 });
    await models.b.setBehaviour({ failRate: 1, failStatus: 413 });
    const key = randomUUID();
    const refused = await gw.infer(key);
    assert.equal(refused.status, 422);
    assert.match(refused.headers['content-type'] ?? '', /^application\/problem\+json/);
    assert.equal(refused.headers['retry-after'], undefined);
    const problem = JSON.parse(refused.text) as Record<string, unknown>;
    assert.equal(problem.type, 'tag:clinical-ai-gateway,2026:problems/input-refused');
    assert.equal(problem.status, 422);
    assert.match(String(problem.detail), /too long/);
    assert.match(String(problem.detail), /invalid/);
    for (const secret of ['Metformin', 'metformin', 'Injected failure']) {
      assert.ok(!refused.text.includes(secret), `no clinical or provider text: ${secret}`);
    }
    assert.equal((await gw.breakerOf('local-a')).requests, 0, 'a refusal never counts');
    const failed = gw.audit.events.find((e) => e.eventType === 'inference.failed');
    assert.equal(failed?.decision?.failureReason, 'input_refused');

    // The key was released: the same key runs anew once the providers accept the input.
    await models.a.reset();
    const retried = await gw.infer(key);
    assert.equal(retried.status, 200);
    assert.equal(retried.headers['idempotent-replayed'], undefined);
  });

  it('a refusal by one provider and an outage of the other is 503: the outage may pass', async () => {
    gw = startBreakerGateway(breakerConfig(models));
    await models.a.setBehaviour({ failRate: 1, failStatus: 400 });
    await models.b.setBehaviour({ failRate: 1, failStatus: 500 });
    const res = await gw.infer();
    assert.equal(res.status, 503);
    assert.ok(res.headers['retry-after']);
  });

  it('a provider that does not answer is abandoned at its timeout and counted as a failure', async function () {
    // local-a would take two minutes; its budget is 2 s. Without the budget this test would time out.
    this.timeout(20_000);
    gw = startBreakerGateway(breakerConfig(models));
    await models.a.setBehaviour({ latencyMs: 120_000 });
    const [res] = await gw.inferMany(1);
    assert.equal(res!.status, 200);
    assert.equal(res!.body.provider, 'local-b');
    const completed = gw.audit.events.find((e) => e.eventType === 'inference.completed');
    const attempts = completed?.decision?.routing?.attempts ?? [];
    assert.deepEqual(
      attempts.map((a) => [a.provider, a.outcome, a.failureKind]),
      [
        ['local-a', 'failure', 'timeout'],
        ['local-b', 'success', undefined],
      ],
    );
    const breaker = await gw.breakerOf('local-a');
    assert.equal(breaker.requests, 1);
    assert.equal(breaker.errorRate, 1);
  });

  it('both providers down: 503 with Retry-After until the earliest half-open, key released, a retry succeeds later', async () => {
    const clock = manualClock();
    gw = startBreakerGateway(breakerConfig(models), { clock });
    await models.a.setBehaviour({ failRate: 1 });
    await models.b.setBehaviour({ failRate: 1 });
    const failing = await gw.inferMany(20);
    assert.ok(failing.every((r) => r.status === 503));
    assert.equal((await gw.breakerOf('local-a')).state, 'open');
    assert.equal((await gw.breakerOf('local-b')).state, 'open');

    const key = randomUUID();
    const first = await gw.infer(key);
    assert.equal(first.status, 503);
    assert.match(first.headers['content-type'] ?? '', /^application\/problem\+json/);
    assert.equal(first.headers['retry-after'], '30', 'both half-open in 30 s');
    assert.equal(
      (await models.a.stats()).requests + (await models.b.stats()).requests,
      40,
      'no calls while open',
    );

    clock.advance(10_000);
    const again = await gw.infer(key);
    assert.equal(again.status, 503, 'the key was released, so the retry ran anew');
    assert.equal(again.headers['retry-after'], '20');

    await models.b.reset();
    clock.advance(20_000);
    const recovered = await gw.infer(key);
    await gw.breakers.settled();
    assert.equal(recovered.status, 200);
    assert.equal(recovered.body.provider, 'local-b');
    assert.equal(recovered.headers['idempotent-replayed'], undefined);
    const replay = await gw.infer(key);
    assert.equal(replay.status, 200);
    assert.equal(replay.headers['idempotent-replayed'], 'true');
    assert.equal(replay.body.id, recovered.body.id);
  });

  it('GET /v1/providers is for admins only', async () => {
    gw = startBreakerGateway(breakerConfig(models));
    const asClinician = await gw.api
      .get('/v1/providers')
      .set('Authorization', bearer(gw.tenant, 'clinician', 'alice'));
    assert.equal(asClinician.status, 403);
    const listed = await gw.api.get('/v1/providers').set('Authorization', bearer(gw.tenant, 'admin', 'ada'));
    assert.equal(listed.status, 200);
    assert.deepEqual(
      listed.body.providers.map((p: { name: string }) => p.name),
      ['local-a', 'local-b'],
    );
  });
});
