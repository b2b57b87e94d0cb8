import assert from 'node:assert/strict';
import { isGatewayError, type ProviderAttempt } from '../../functions/src/core/errors.js';
import {
  type FailureKind,
  type InputRefusal,
  ProviderCallError,
  type ProviderClient,
  type ProviderResult,
} from '../../functions/src/core/providers/provider.js';
import {
  type Admission,
  type BreakerBoard,
  type CallOutcome,
  ProviderRouter,
} from '../../functions/src/core/routing/router.js';
import { buildPrompt } from '../../functions/src/core/tasks.js';

/**
 * The router's rules (core/routing/router.ts) with scripted providers and breakers: the chain's order, what
 * a breaker's verdict does, what counts against a provider, and what the caller is told when nothing answers.
 */

type Route = Parameters<ProviderRouter['run']>[0];

/** How a scripted provider answers: a JSON value, raw text, a failure kind, a refusal, or never. */
type Script =
  | { answer: unknown }
  | { text: string }
  | { fail: FailureKind }
  | { refuse: InputRefusal }
  | { hang: true };

const GOOD = { medications: [{ name: 'metformin', dose: '500 mg', route: 'PO', frequency: 'BID' }] };
const prompt = buildPrompt('medication-extraction', 'Patient takes metformin 500 mg PO BID.');

function setUp(scripts: Record<string, Script>, breakers: Record<string, Admission> = {}) {
  const calls: string[] = [];
  const outcomes: [string, CallOutcome][] = [];
  const admitted: string[] = [];
  const clients = new Map<string, ProviderClient>(
    Object.entries(scripts).map(([name, script]) => [
      name,
      {
        name,
        complete: async ({ model, signal }): Promise<ProviderResult> => {
          calls.push(name);
          if ('hang' in script)
            return new Promise((_, reject) =>
              signal.addEventListener('abort', () => reject(new Error('aborted'))),
            );
          if ('fail' in script) throw new ProviderCallError(name, script.fail, 503);
          if ('refuse' in script) throw new ProviderCallError(name, 'bad_request', 400, script.refuse);
          const text = 'text' in script ? script.text : JSON.stringify(script.answer);
          return { text, tokenLogprobs: null, model: `${model}-v2`, usage: null };
        },
      },
    ]),
  );
  const board: BreakerBoard = {
    admit: async (provider) => {
      admitted.push(provider);
      return breakers[provider] ?? { allowed: true, state: 'closed', probe: false };
    },
    recordOutcome: (provider, outcome) => void outcomes.push([provider, outcome]),
  };
  let now = 1_000;
  const router = new ProviderRouter({
    clients,
    breakers: board,
    // Every call "takes" 7 ms of the injected clock.
    clock: () => {
      now += 7;
      return now;
    },
  });
  const route: Route = {
    chain: Object.keys(scripts).map((provider) => ({ provider, model: `${provider}-model`, timeoutMs: 50 })),
    reviewThreshold: 0.8,
    reviewSlaMinutes: 240,
  } as Route;
  return { router, route, calls, outcomes, admitted };
}

const open = (retryAfterMs: number): Admission => ({ allowed: false, state: 'open', retryAfterMs });
const summary = (attempts: ProviderAttempt[]) =>
  attempts.map((a) => `${a.provider}:${a.outcome}${a.failureKind ? `:${a.failureKind}` : ''}`);

/** What the router throws: its kind (the HTTP status http/problem.ts maps it to) and what it carries. */
async function refusal(p: Promise<unknown>) {
  try {
    await p;
  } catch (e) {
    assert.ok(isGatewayError(e), String(e));
    const { kind, retryAfterSeconds, attempts, refusals } = e as unknown as {
      kind: string;
      retryAfterSeconds?: number;
      attempts: ProviderAttempt[];
      refusals?: InputRefusal[];
    };
    return { kind, retryAfterSeconds, attempts: summary(attempts), refusals };
  }
  assert.fail('expected the router to throw');
}

describe('ProviderRouter: the chain in order, first usable answer wins', () => {
  type Case = {
    name: string;
    scripts: Record<string, Script>;
    breakers?: Record<string, Admission>;
    provider: string;
    attempts: string[];
    /** Outcomes the breakers were told, per provider: ok, or the failure kind. */
    recorded: string[];
  };
  const cases: Case[] = [
    {
      name: 'primary answers: no fallback asked',
      scripts: { a: { answer: GOOD }, b: { answer: GOOD } },
      provider: 'a',
      attempts: ['a:success'],
      recorded: ['a:ok'],
    },
    {
      name: 'primary fails (5xx): the fallback answers',
      scripts: { a: { fail: 'server_error' }, b: { answer: GOOD } },
      provider: 'b',
      attempts: ['a:failure:server_error', 'b:success'],
      recorded: ['a:server_error', 'b:ok'],
    },
    {
      name: 'primary and secondary fail, the third answers',
      scripts: { a: { fail: 'rate_limited' }, b: { fail: 'auth' }, c: { answer: GOOD } },
      provider: 'c',
      attempts: ['a:failure:rate_limited', 'b:failure:auth', 'c:success'],
      recorded: ['a:rate_limited', 'b:auth', 'c:ok'],
    },
    {
      name: "primary's breaker open: skipped without a call or an outcome",
      scripts: { a: { answer: GOOD }, b: { answer: GOOD } },
      breakers: { a: open(20_000) },
      provider: 'b',
      attempts: ['a:skipped_open', 'b:success'],
      recorded: ['b:ok'],
    },
    {
      name: 'answer that is not JSON: malformed, against the provider',
      scripts: { a: { text: 'Sure! The medications are metformin.' }, b: { answer: GOOD } },
      provider: 'b',
      attempts: ['a:failure:malformed', 'b:success'],
      recorded: ['a:malformed', 'b:ok'],
    },
    {
      name: "JSON that does not fit the task's schema: malformed, against the provider",
      scripts: { a: { answer: { medications: 'metformin' } }, b: { answer: GOOD } },
      provider: 'b',
      attempts: ['a:failure:malformed', 'b:success'],
      recorded: ['a:malformed', 'b:ok'],
    },
    {
      name: 'primary never answers: timeout after its own deadline, then the fallback',
      scripts: { a: { hang: true }, b: { answer: GOOD } },
      provider: 'b',
      attempts: ['a:failure:timeout', 'b:success'],
      recorded: ['a:timeout', 'b:ok'],
    },
    {
      name: 'primary refuses this input: the fallback may still answer it',
      scripts: { a: { refuse: 'content_blocked' }, b: { answer: GOOD } },
      provider: 'b',
      attempts: ['a:failure:bad_request', 'b:success'],
      recorded: ['a:bad_request', 'b:ok'],
    },
  ];

  for (const c of cases) {
    it(c.name, async () => {
      const s = setUp(c.scripts, c.breakers);
      const routed = await s.router.run(s.route, prompt);
      assert.equal(routed.provider, c.provider);
      assert.equal(routed.model, `${c.provider}-model-v2`, 'the model as the provider names it');
      assert.equal(routed.fallbackTaken, c.attempts.length > 1);
      assert.deepEqual(summary(routed.attempts), c.attempts);
      assert.deepEqual(
        s.calls,
        c.attempts.filter((a) => !a.endsWith('skipped_open')).map((a) => a.split(':')[0]),
      );
      assert.deepEqual(
        s.outcomes.map(([p, o]) => `${p}:${o.ok ? 'ok' : o.failure}`),
        c.recorded,
      );
    });
  }

  it('tells the breakers the latency (injected clock), the input size and whether the call was a probe', async () => {
    const s = setUp({ a: { answer: GOOD } }, { a: { allowed: true, state: 'half_open', probe: true } });
    const routed = await s.router.run(s.route, prompt);
    assert.deepEqual(s.outcomes, [
      ['a', { ok: true, latencyMs: 7, probe: true, inputChars: prompt.user.length }],
    ]);
    assert.deepEqual(routed.attempts, [
      { provider: 'a', model: 'a-model', breakerState: 'half_open', outcome: 'success', latencyMs: 7 },
    ]);
  });
});

describe('ProviderRouter: when the chain ends without an answer', () => {
  it('every provider failing: 503 providers_unavailable, every attempt listed, default Retry-After', async () => {
    const s = setUp({ a: { fail: 'server_error' }, b: { fail: 'timeout' } });
    assert.deepEqual(await refusal(s.router.run(s.route, prompt)), {
      kind: 'providers_unavailable',
      retryAfterSeconds: 5,
      attempts: ['a:failure:server_error', 'b:failure:timeout'],
      refusals: undefined,
    });
  });

  it('every breaker open: no provider called, Retry-After from the breaker that reopens first', async () => {
    const s = setUp({ a: { answer: GOOD }, b: { answer: GOOD } }, { a: open(20_000), b: open(4_200) });
    const r = await refusal(s.router.run(s.route, prompt));
    assert.equal(r.kind, 'providers_unavailable');
    assert.equal(r.retryAfterSeconds, 5);
    assert.deepEqual(r.attempts, ['a:skipped_open', 'b:skipped_open']);
    assert.deepEqual(s.calls, []);
    assert.deepEqual(s.outcomes, []);
  });

  it('one open, the other failing: still the providers’ fault (503), with the open breaker’s hint', async () => {
    const s = setUp({ a: { answer: GOOD }, b: { fail: 'malformed' } }, { a: open(12_000) });
    const r = await refusal(s.router.run(s.route, prompt));
    assert.deepEqual([r.kind, r.retryAfterSeconds], ['providers_unavailable', 12]);
  });

  it('every provider refusing this very input: 422 input_refused, not retryable, the breakers told it was the input', async () => {
    const s = setUp({ a: { refuse: 'too_large' }, b: { refuse: 'content_blocked' } });
    const r = await refusal(s.router.run(s.route, prompt));
    assert.equal(r.kind, 'input_refused');
    assert.deepEqual(r.refusals, ['too_large', 'content_blocked']);
    assert.deepEqual(r.attempts, ['a:failure:bad_request', 'b:failure:bad_request']);
    assert.deepEqual(
      s.outcomes.map(([p, o]) => [p, o.ok ? 'ok' : o.failure]),
      [
        ['a', 'bad_request'],
        ['b', 'bad_request'],
      ],
    );
  });

  it('a refusal from one and a failure from another: the providers may be at fault (503), not the input', async () => {
    for (const scripts of [
      { a: { refuse: 'invalid_input' }, b: { fail: 'server_error' } },
      { a: { fail: 'server_error' }, b: { refuse: 'invalid_input' } },
    ] satisfies Record<string, Script>[]) {
      const s = setUp(scripts);
      const r = await refusal(s.router.run(s.route, prompt));
      assert.equal(r.kind, 'providers_unavailable', JSON.stringify(scripts));
    }
  });

  it('a refusal and an open breaker: 503 (the open provider was never asked)', async () => {
    const s = setUp({ a: { answer: GOOD }, b: { refuse: 'invalid_input' } }, { a: open(3_000) });
    const r = await refusal(s.router.run(s.route, prompt));
    assert.deepEqual([r.kind, r.retryAfterSeconds], ['providers_unavailable', 3]);
  });
});
