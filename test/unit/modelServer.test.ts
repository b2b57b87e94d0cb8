import assert from 'node:assert/strict';
import { type ModelServer, startModelServer } from '../../functions/dev/modelServer/modelServer.js';

/**
 * The local model server through its HTTP interface, as the gateway and the test suites use it: task outputs,
 * token logprobs, the admin controls, and robustness against whatever a client sends.
 */

type TokenLogprob = { token: string; logprob: number; bytes: number[]; top_logprobs: unknown[] };
type Completion = {
  id: string;
  object: string;
  created: number;
  model: string;
  choices: {
    index: number;
    message: { role: string; content: string };
    logprobs: { content: TokenLogprob[] } | null;
    finish_reason: string;
  }[];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
};

let server: ModelServer;
let other: ModelServer;

before(async () => {
  [server, other] = await Promise.all([
    startModelServer({ name: 'local-a', port: 0 }),
    startModelServer({ name: 'local-b', port: 0 }),
  ]);
});
after(async () => {
  await Promise.all([server?.close(), other?.close()]);
});
afterEach(async () => {
  await admin(server, 'POST', '/admin/reset');
});

const chatBody = (task: string, text: string, extra: Record<string, unknown> = {}) => ({
  model: 'local-model-1',
  messages: [
    { role: 'system', content: `task: ${task}\nAnswer only JSON.` },
    { role: 'user', content: text },
  ],
  logprobs: true,
  temperature: 0,
  response_format: { type: 'json_object' },
  ...extra,
});

async function post(target: ModelServer, body: unknown, init: RequestInit = {}): Promise<Response> {
  return fetch(`${target.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });
}

async function complete(
  task: string,
  text: string,
  extra: Record<string, unknown> = {},
): Promise<Completion> {
  const res = await post(server, chatBody(task, text, extra));
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as Completion;
}

const outputOf = (c: Completion): unknown => JSON.parse(c.choices[0]!.message.content);
const logprobsOf = (c: Completion): TokenLogprob[] => c.choices[0]!.logprobs!.content;
/** What the gateway's scorer computes: exp(mean logprob), the geometric mean of the token probabilities. */
const scoreOf = (c: Completion): number => {
  const lps = logprobsOf(c).map((t) => t.logprob);
  return Math.exp(lps.reduce((sum, lp) => sum + lp, 0) / lps.length);
};

async function admin(target: ModelServer, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${target.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function setBehaviour(body: Record<string, unknown>, target = server): Promise<void> {
  const res = await admin(target, 'PUT', '/admin/behaviour', body);
  assert.equal(res.status, 204, await res.text());
}

async function statsOf(target = server): Promise<unknown> {
  return (await admin(target, 'GET', '/admin/stats')).json();
}

const medicationNote =
  'Patient takes metformin 500 mg PO BID and lisinopril 10 mg daily. Started atorvastatin 40 mg qhs.';
const icdNote = 'History of hypertension and type 2 diabetes mellitus; COPD exacerbation.';
const summaryNote =
  'John Jones is a 67 year old man who presents with shortness of breath. He has a history of CHF and ' +
  'hypertension. BP 150/90, HR 102. He lives with his wife. He enjoys gardening. Chest x-ray shows ' +
  'pulmonary edema. Plan: start furosemide 40 mg IV twice daily. Follow up in clinic in one week.';

describe('local model server', () => {
  describe('medication-extraction', () => {
    it('finds each medication with its dose, route and frequency', async () => {
      const output = outputOf(await complete('medication-extraction', medicationNote));
      assert.deepEqual(output, {
        medications: [
          { name: 'metformin', dose: '500 mg', route: 'oral', frequency: 'twice daily' },
          { name: 'lisinopril', dose: '10 mg', route: null, frequency: 'once daily' },
          { name: 'atorvastatin', dose: '40 mg', route: null, frequency: 'at bedtime' },
        ],
      });
    });

    it('reports brand names under the generic name, once per medication', async () => {
      const note =
        'Continue Lipitor 20mg p.o. q.d. and Glucophage 1,000 mg twice a day. Coumadin 5 mg PO q24h; ' +
        'Lantus 20 units subq at bedtime. Zofran 4 mg IV q8h PRN nausea. Lipitor was refilled.';
      const output = outputOf(await complete('medication-extraction', note));
      assert.deepEqual(output, {
        medications: [
          { name: 'atorvastatin', dose: '20 mg', route: 'oral', frequency: 'once daily' },
          { name: 'metformin', dose: '1000 mg', route: null, frequency: 'twice daily' },
          { name: 'warfarin', dose: '5 mg', route: 'oral', frequency: 'once daily' },
          { name: 'insulin glargine', dose: '20 units', route: 'subcutaneous', frequency: 'at bedtime' },
          { name: 'ondansetron', dose: '4 mg', route: 'IV', frequency: 'every 8 hours as needed' },
        ],
      });
    });

    it('is sure of complete orders, less of partial ones, and doubts an empty answer', async () => {
      const complete3 = scoreOf(await complete('medication-extraction', medicationNote));
      const partial = scoreOf(await complete('medication-extraction', 'On aspirin and metoprolol.'));
      const none = scoreOf(await complete('medication-extraction', 'No current medications.'));
      assert.ok(complete3 > 0.9, `complete orders score ${complete3}`);
      assert.ok(partial > 0.55 && partial < 0.8, `bare names score ${partial}`);
      assert.ok(Math.abs(none - 0.5) < 1e-9, `nothing found scores ${none}`);
    });
  });

  describe('icd10-suggestion', () => {
    it('suggests one code per affirmed condition, in order of mention, with its evidence', async () => {
      const output = outputOf(await complete('icd10-suggestion', icdNote));
      assert.deepEqual(output, {
        codes: [
          { code: 'I10', description: 'Essential (primary) hypertension', evidence: 'hypertension' },
          {
            code: 'E11.9',
            description: 'Type 2 diabetes mellitus without complications',
            evidence: 'type 2 diabetes mellitus',
          },
          {
            code: 'J44.1',
            description: 'Chronic obstructive pulmonary disease with (acute) exacerbation',
            evidence: 'COPD exacerbation',
          },
        ],
      });
    });

    it('leaves out negated, familial and lookalike mentions and repeats; scores abbreviations lower', async () => {
      const note =
        'Pt with HTN and CKD. Denies chest pain. No history of asthma. Family history of stroke. ' +
        'ECG: ST depression. HTN well controlled.';
      const abbreviated = await complete('icd10-suggestion', note);
      const codes = (outputOf(abbreviated) as { codes: { code: string }[] }).codes.map((c) => c.code);
      assert.deepEqual(codes, ['I10', 'N18.9']);
      const canonical = await complete('icd10-suggestion', 'Hypertension. Chronic kidney disease.');
      assert.ok(scoreOf(canonical) > scoreOf(abbreviated));
      assert.ok(scoreOf(await complete('icd10-suggestion', 'Feels well.')) < 0.5);
    });
  });

  describe('clinical-summary', () => {
    it('extracts at most three sentences of the note and up to five findings', async () => {
      const output = outputOf(await complete('clinical-summary', summaryNote)) as {
        summary: string;
        keyFindings: string[];
      };
      const sentences = output.summary.split(/(?<=[.!?])\s+(?=[A-Z])/);
      assert.ok(output.summary.length > 0);
      assert.ok(sentences.length >= 1 && sentences.length <= 3, output.summary);
      for (const sentence of sentences) assert.ok(summaryNote.includes(sentence), sentence);
      assert.ok(output.keyFindings.length >= 1 && output.keyFindings.length <= 5);
      for (const finding of output.keyFindings) assert.ok(summaryNote.includes(finding), finding);
    });

    it('never answers an empty summary for a non-empty note', async () => {
      for (const note of ['ok', 'no punctuation at all here', '!!!', `${'word '.repeat(400)}`]) {
        const output = outputOf(await complete('clinical-summary', note)) as { summary: string };
        assert.ok(output.summary.length > 0 && output.summary.length <= 1500, note);
      }
    });
  });

  describe('the chat.completion answer', () => {
    it('has the OpenAI shape and echoes the model', async () => {
      const c = await complete('medication-extraction', medicationNote);
      assert.match(c.id, /^chatcmpl-/);
      assert.equal(c.object, 'chat.completion');
      assert.equal(c.model, 'local-model-1');
      assert.equal(typeof c.created, 'number');
      assert.equal(c.choices.length, 1);
      assert.equal(c.choices[0]!.index, 0);
      assert.equal(c.choices[0]!.message.role, 'assistant');
      assert.equal(c.choices[0]!.finish_reason, 'stop');
      assert.equal(c.usage.completion_tokens, logprobsOf(c).length);
      assert.equal(c.usage.total_tokens, c.usage.prompt_tokens + c.usage.completion_tokens);
    });

    it('gives tokens that concatenate to the content, with their UTF-8 bytes', async () => {
      for (const [task, text] of [
        ['medication-extraction', medicationNote],
        ['icd10-suggestion', icdNote],
        ['clinical-summary', 'Café patient “Zoë” 🙂 has fever. Naïve résumé of asthma; 温度 39°C.'],
      ] as const) {
        const c = await complete(task, text);
        const tokens = logprobsOf(c);
        assert.equal(tokens.map((t) => t.token).join(''), c.choices[0]!.message.content);
        for (const t of tokens) {
          assert.deepEqual(t.bytes, [...Buffer.from(t.token, 'utf8')]);
          assert.ok(t.logprob <= 0 && Number.isFinite(t.logprob));
          assert.deepEqual(t.top_logprobs, []);
        }
      }
    });

    it('sends logprobs only when asked', async () => {
      const c = await complete('icd10-suggestion', icdNote, { logprobs: false });
      assert.equal(c.choices[0]!.logprobs, null);
      const omitted = await complete('icd10-suggestion', icdNote, { logprobs: undefined });
      assert.equal(omitted.choices[0]!.logprobs, null);
    });

    it('is deterministic: identical requests get identical answers apart from id and created', async () => {
      for (const [task, text] of [
        ['medication-extraction', medicationNote],
        ['icd10-suggestion', icdNote],
        ['clinical-summary', summaryNote],
      ] as const) {
        const [a, b] = await Promise.all([complete(task, text), complete(task, text)]);
        assert.notEqual(a.id, b.id);
        assert.deepEqual({ ...a, id: '', created: 0 }, { ...b, id: '', created: 0 });
      }
    });

    it('answers a repeated request with the same completion as JSON, with its own id and time', async () => {
      const texts: string[] = [];
      for (let i = 0; i < 3; i++) {
        const res = await post(server, chatBody('icd10-suggestion', icdNote));
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
        texts.push(await res.text());
      }
      const answers = texts.map((t) => JSON.parse(t) as Completion & { object: string; created: number });
      for (const [i, a] of answers.entries()) {
        // The text is what JSON.stringify makes of the completion: nothing lost, doubled or out of order.
        assert.equal(JSON.stringify(a), texts[i]);
        assert.deepEqual(Object.keys(a), ['id', 'object', 'created', 'model', 'choices', 'usage']);
        assert.match(a.id, /^chatcmpl-[0-9a-f]{32}$/);
        assert.equal(a.object, 'chat.completion');
        assert.ok(Math.abs(a.created - Date.now() / 1000) < 60);
        assert.deepEqual({ ...a, id: '', created: 0 }, { ...answers[0]!, id: '', created: 0 });
      }
      assert.equal(new Set(answers.map((a) => a.id)).size, 3);
    });

    it('reads content given as an array of text parts', async () => {
      const res = await post(server, {
        model: 'm',
        messages: [
          { role: 'system', content: [{ type: 'text', text: 'task: icd10-suggestion\nJSON please.' }] },
          { role: 'user', content: [{ type: 'text', text: 'Known asthma.' }] },
        ],
      });
      assert.equal(res.status, 200);
      const body = (await res.json()) as Completion;
      assert.equal((outputOf(body) as { codes: { code: string }[] }).codes[0]?.code, 'J45.909');
    });
  });

  describe('admin', () => {
    it('pins every token to ln(confidence), so the gateway scores exactly that', async () => {
      await setBehaviour({ confidence: 0.6 });
      for (const task of ['medication-extraction', 'icd10-suggestion', 'clinical-summary']) {
        const c = await complete(task, medicationNote);
        for (const t of logprobsOf(c)) assert.equal(t.logprob, Math.log(0.6));
        assert.ok(Math.abs(scoreOf(c) - 0.6) < 1e-9);
      }
      await setBehaviour({ confidence: 0 });
      const zero = await complete('clinical-summary', summaryNote);
      assert.ok(logprobsOf(zero).every((t) => t.logprob === -9999));
      assert.equal(scoreOf(zero), 0);
      await setBehaviour({ confidence: null });
      assert.ok(scoreOf(await complete('medication-extraction', medicationNote)) > 0.9);
    });

    it('fails every call at failRate 1 with failStatus and counts them', async () => {
      await setBehaviour({ failRate: 1, failStatus: 503 });
      for (let i = 0; i < 5; i++) {
        const res = await post(server, chatBody('icd10-suggestion', icdNote));
        assert.equal(res.status, 503);
        assert.equal(res.headers.get('retry-after'), '1');
        const body = (await res.json()) as { error: { message: string; type: string } };
        assert.equal(body.error.type, 'server_error');
        assert.equal(typeof body.error.message, 'string');
      }
      assert.deepEqual(await statsOf(), { requests: 5, failures: 5 });
    });

    it('answers 429 failures with Retry-After', async () => {
      await setBehaviour({ failRate: 1, failStatus: 429 });
      const res = await post(server, chatBody('icd10-suggestion', icdNote));
      assert.equal(res.status, 429);
      assert.equal(res.headers.get('retry-after'), '1');
      assert.equal(((await res.json()) as { error: { type: string } }).error.type, 'rate_limit_error');
    });

    it('fails exactly the given fraction of calls, evenly spread', async () => {
      await setBehaviour({ failRate: 0.05 });
      const statuses: number[] = [];
      for (let i = 0; i < 100; i++) {
        const res = await post(server, chatBody('icd10-suggestion', icdNote));
        await res.arrayBuffer();
        statuses.push(res.status);
      }
      assert.equal(statuses.filter((s) => s === 500).length, 5);
      assert.equal(statuses.filter((s) => s === 200).length, 95);
      assert.deepEqual(await statsOf(), { requests: 100, failures: 5 });

      await setBehaviour({ failRate: 0.5 });
      const alternating: number[] = [];
      for (let i = 0; i < 6; i++) {
        const res = await post(server, chatBody('icd10-suggestion', icdNote));
        await res.arrayBuffer();
        alternating.push(res.status);
      }
      assert.deepEqual(alternating, [200, 500, 200, 500, 200, 500]);
    });

    it('delays answers by latencyMs, and survives a client that gives up waiting', async () => {
      await setBehaviour({ latencyMs: 150 });
      const started = performance.now();
      await complete('icd10-suggestion', icdNote);
      assert.ok(performance.now() - started >= 140);

      await assert.rejects(
        post(server, chatBody('icd10-suggestion', icdNote), { signal: AbortSignal.timeout(20) }),
      );
      assert.deepEqual(await statsOf(), { requests: 2, failures: 0 });
      await setBehaviour({ latencyMs: 0 });
      await complete('icd10-suggestion', icdNote);
    });

    it('updates only the given fields and reports the behaviour', async () => {
      await setBehaviour({ failRate: 0.25, failStatus: 502 });
      await setBehaviour({ latencyMs: 5 });
      const res = await admin(server, 'GET', '/admin/behaviour');
      assert.deepEqual(await res.json(), {
        failRate: 0.25,
        failStatus: 502,
        latencyMs: 5,
        confidence: null,
        fault: null,
      });
    });

    it('rejects invalid behaviour with 400 and changes nothing', async () => {
      for (const body of [
        { failRate: 1.5 },
        { failRate: -0.1 },
        { failStatus: 200 },
        { failStatus: 600 },
        { latencyMs: -1 },
        { latencyMs: 'slow' },
        { confidence: 2 },
        { fault: 'explode' },
        { fault: 500 },
        { failrate: 1 },
        '{not json',
        '[]',
        'null',
      ]) {
        const res = await admin(server, 'PUT', '/admin/behaviour', body);
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.equal(typeof ((await res.json()) as { error: { message: string } }).error.message, 'string');
      }
      const current = await (await admin(server, 'GET', '/admin/behaviour')).json();
      assert.deepEqual(current, {
        failRate: 0,
        failStatus: 500,
        latencyMs: 0,
        confidence: null,
        fault: null,
      });
    });

    it('resets behaviour and counters', async () => {
      await setBehaviour({ failRate: 1, confidence: 0.3, fault: 'prose' });
      await (await post(server, chatBody('icd10-suggestion', icdNote))).arrayBuffer();
      assert.equal((await admin(server, 'POST', '/admin/reset')).status, 204);
      assert.deepEqual(await statsOf(), { requests: 0, failures: 0 });
      const res = await admin(server, 'GET', '/admin/behaviour');
      assert.deepEqual(await res.json(), {
        failRate: 0,
        failStatus: 500,
        latencyMs: 0,
        confidence: null,
        fault: null,
      });
      await complete('icd10-suggestion', icdNote);
    });

    it('keeps each server independent', async () => {
      await setBehaviour({ failRate: 1 });
      const res = await post(other, chatBody('icd10-suggestion', icdNote));
      assert.equal(res.status, 200);
      assert.deepEqual(await statsOf(other), { requests: 1, failures: 0 });
      assert.equal((await admin(other, 'POST', '/admin/reset')).status, 204);
    });
  });

  describe('fault modes', () => {
    /** The answer's status, content type and body text; a body cut off mid-way reads as 'cut off'. */
    const answer = async () => {
      const res = await post(server, chatBody('medication-extraction', medicationNote));
      const text = await res.text().catch(() => 'cut off');
      return { status: res.status, type: res.headers.get('content-type') ?? '', text };
    };
    const contentOf = (text: string): string => (JSON.parse(text) as Completion).choices[0]!.message.content;

    it('html: a 200 with an HTML page', async () => {
      await setBehaviour({ fault: 'html' });
      const a = await answer();
      assert.equal(a.status, 200);
      assert.match(a.type, /^text\/html/);
      assert.match(a.text, /^<!DOCTYPE html>/);
    });

    it('empty-choices: a completion without choices', async () => {
      await setBehaviour({ fault: 'empty-choices' });
      const a = await answer();
      assert.equal(a.status, 200);
      assert.deepEqual((JSON.parse(a.text) as Completion).choices, []);
    });

    it('prose: content that is not JSON', async () => {
      await setBehaviour({ fault: 'prose' });
      const a = await answer();
      assert.equal(a.status, 200);
      assert.throws(() => JSON.parse(contentOf(a.text)));
    });

    it('wrong-schema: valid JSON content that is not the task’s output', async () => {
      await setBehaviour({ fault: 'wrong-schema' });
      const output = JSON.parse(contentOf((await answer()).text)) as Record<string, unknown>;
      assert.equal(output.medications, undefined);
      assert.equal(typeof output, 'object');
    });

    it('invalid-json: a JSON-typed 200 body that does not parse', async () => {
      await setBehaviour({ fault: 'invalid-json' });
      const a = await answer();
      assert.equal(a.status, 200);
      assert.match(a.type, /^application\/json/);
      assert.throws(() => JSON.parse(a.text));
    });

    it('truncated: the body stops midway and the connection drops', async () => {
      await setBehaviour({ fault: 'truncated' });
      const a = await answer();
      assert.equal(a.status, 200);
      assert.equal(a.text, 'cut off');
    });

    it('hang: never answers, until the client gives up', async () => {
      await setBehaviour({ fault: 'hang' });
      const res = await post(server, chatBody('medication-extraction', medicationNote), {
        signal: AbortSignal.timeout(200),
      }).catch((e: Error) => e.name);
      assert.equal(res, 'TimeoutError');
      assert.deepEqual(await statsOf(), { requests: 1, failures: 1 });
    });

    it('applies to the failRate share of calls, and to every call when failRate is 0', async () => {
      await setBehaviour({ fault: 'prose', failRate: 0.5 });
      const contents = [];
      for (let i = 0; i < 4; i++) contents.push(contentOf((await answer()).text));
      const prose = contents.map((c) => {
        try {
          JSON.parse(c);
          return false;
        } catch {
          return true;
        }
      });
      assert.deepEqual(prose, [false, true, false, true]);
      assert.deepEqual(await statsOf(), { requests: 4, failures: 2 });
      await setBehaviour({ failRate: 0 });
      for (let i = 0; i < 3; i++) {
        const content = contentOf((await answer()).text);
        assert.throws(() => JSON.parse(content));
      }
    });
  });

  describe('other routes', () => {
    it('answers health, 404 for unknown paths and 405 for wrong methods', async () => {
      const health = await admin(server, 'GET', '/healthz');
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { status: 'ok', name: 'local-a' });
      const unknown = await admin(server, 'GET', '/v1/models');
      assert.equal(unknown.status, 404);
      assert.ok(((await unknown.json()) as { error: unknown }).error);
      const wrongMethod = await admin(server, 'GET', '/v1/chat/completions');
      assert.equal(wrongMethod.status, 405);
      assert.equal(wrongMethod.headers.get('allow'), 'POST');
      await wrongMethod.arrayBuffer();
    });
  });

  describe('robustness', () => {
    const system = (task: string) => ({ role: 'system', content: `task: ${task}\nJSON.` });
    const user = (content: unknown) => ({ role: 'user', content });
    const cases: { name: string; body: unknown; status: number }[] = [
      { name: 'malformed JSON', body: '{"model": "m", "messages": [', status: 400 },
      { name: 'empty body', body: '', status: 400 },
      { name: 'JSON null', body: 'null', status: 400 },
      { name: 'JSON array', body: '[1, 2]', status: 400 },
      { name: 'JSON string', body: '"hello"', status: 400 },
      { name: 'no messages', body: { model: 'm' }, status: 400 },
      { name: 'empty messages', body: { model: 'm', messages: [] }, status: 400 },
      { name: 'messages not an array', body: { model: 'm', messages: 'hi' }, status: 400 },
      { name: 'no model', body: { messages: [system('icd10-suggestion'), user('asthma')] }, status: 400 },
      {
        name: 'unknown role',
        body: { model: 'm', messages: [{ role: 'wizard', content: 'x' }] },
        status: 400,
      },
      { name: 'no system message', body: { model: 'm', messages: [user('asthma')] }, status: 400 },
      {
        name: 'unknown task',
        body: { model: 'm', messages: [system('make-coffee'), user('x')] },
        status: 400,
      },
      {
        name: 'no task line',
        body: { model: 'm', messages: [{ role: 'system', content: 'You are helpful.' }, user('x')] },
        status: 400,
      },
      { name: 'no user message', body: { model: 'm', messages: [system('clinical-summary')] }, status: 400 },
      {
        name: 'content a number',
        body: { model: 'm', messages: [system('icd10-suggestion'), user(42)] },
        status: 400,
      },
      {
        name: 'streaming asked',
        body: { model: 'm', stream: true, messages: [system('icd10-suggestion'), user('x')] },
        status: 400,
      },
      {
        name: 'null content',
        body: { model: 'm', messages: [system('clinical-summary'), user(null)] },
        status: 200,
      },
      { name: 'empty note', body: chatBody('medication-extraction', ''), status: 200 },
      {
        name: 'odd unicode',
        body: chatBody('clinical-summary', '\u0000\u200f\u202e\ud83d\ude00 e\u0301 \ufffd'),
        status: 200,
      },
      {
        name: 'lone surrogates',
        body: '{"model":"m","messages":[{"role":"system","content":"task: clinical-summary"},{"role":"user","content":"a\\ud800b. \\udfff"}]}',
        status: 200,
      },
      {
        name: 'unknown extra fields',
        body: chatBody('icd10-suggestion', 'asthma', { seed: 1, user: 'u', tools: [] }),
        status: 200,
      },
    ];
    for (const { name, body, status } of cases) {
      it(`answers ${status} for ${name}`, async () => {
        const res = await post(server, body);
        assert.equal(res.status, status);
        const answer = (await res.json()) as Completion & { error?: { message: string; type: string } };
        if (status === 400) assert.equal(answer.error?.type, 'invalid_request_error');
        else JSON.parse(answer.choices[0]!.message.content);
      });
    }

    it('handles a 100,000-character note for every task', async () => {
      const sentence = 'Patient with hypertension takes lisinopril 10 mg daily and reports mild fatigue. ';
      const huge = sentence.repeat(Math.ceil(100_000 / sentence.length)).slice(0, 100_000);
      const noPunctuation = 'x'.repeat(100_000);
      for (const task of ['medication-extraction', 'icd10-suggestion', 'clinical-summary']) {
        for (const text of [huge, noPunctuation]) {
          const c = await complete(task, text);
          assert.equal(
            logprobsOf(c)
              .map((t) => t.token)
              .join(''),
            c.choices[0]!.message.content,
          );
          assert.ok(c.choices[0]!.message.content.length < 5_000);
        }
      }
    });

    it('serves hundreds of concurrent requests', async () => {
      const results = await Promise.all(
        Array.from({ length: 300 }, async (_, i) => {
          const res = await post(server, chatBody('medication-extraction', `${medicationNote} Visit ${i}.`));
          await res.arrayBuffer();
          return res.status;
        }),
      );
      assert.ok(results.every((s) => s === 200));
      assert.deepEqual(await statsOf(), { requests: 300, failures: 0 });
    });

    it('stays healthy after all of the above', async () => {
      assert.equal((await admin(server, 'GET', '/healthz')).status, 200);
    });
  });
});
