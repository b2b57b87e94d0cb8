import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ModelServer, startModelServer } from '../../functions/dev/modelServer/modelServer.js';
import { AnthropicProvider, withoutCodeFence } from '../../functions/src/adapters/providers/anthropic.js';
import { createProviderClients } from '../../functions/src/adapters/providers/createProviderClients.js';
import { OpenAiCompatibleProvider } from '../../functions/src/adapters/providers/openAiCompatible.js';
import { VertexGeminiProvider } from '../../functions/src/adapters/providers/vertexGemini.js';
import { ConfigError, routingSchema } from '../../functions/src/config.js';
import {
  isProviderCallError,
  type ProviderCallError,
  type ProviderClient,
} from '../../functions/src/core/providers/provider.js';
import {
  fixedTokenCredential,
  PROVIDER_SECRET_TEXT,
  startAnthropicVertexWireServer,
  startAnthropicWireServer,
  startGeminiWireServer,
  startOpenAiWireServer,
  type WireServer,
} from '../support/providerWireServers.js';

/**
 * The provider adapters through their real SDKs (the OpenAI-compatible one through undici), against local servers that speak each provider's wire
 * format: the answer is mapped to one result shape, and each failure to one kind the breakers understand,
 * with nothing of the provider's own error text (nor any key) in what we keep.
 */

const prompt = {
  system: 'task: medication-extraction\nAnswer with JSON.',
  user: 'Metformin 500 mg twice daily.',
};
const API_KEY = 'sk-test-key-never-logged-0123456789';
const TOKEN = 'ya29.test-access-token';

type Case = {
  name: string;
  start: () => Promise<WireServer>;
  client: (server: WireServer) => ProviderClient;
  model: string;
  /** What the server must have received: authentication, path and the request shape. */
  checkRequest: (server: WireServer) => void;
  logprobs: boolean;
};

const cases: Case[] = [
  {
    name: 'OpenAI-compatible chat completions (undici)',
    start: startOpenAiWireServer,
    client: (s) => new OpenAiCompatibleProvider('openai', { baseUrl: `${s.url}/v1/`, apiKey: API_KEY }),
    model: 'gpt-test',
    logprobs: true,
    checkRequest: (s) => {
      const r = s.requests.at(-1)!;
      assert.equal(r.path, '/v1/chat/completions');
      assert.equal(r.headers.authorization, `Bearer ${API_KEY}`);
      assert.equal(r.headers['content-type'], 'application/json');
      const body = r.body as Record<string, unknown>;
      assert.equal(body.model, 'gpt-test');
      assert.deepEqual(body.messages, [
        { role: 'system', content: prompt.system },
        { role: 'user', content: prompt.user },
      ]);
      assert.equal(body.logprobs, true);
      assert.deepEqual(body.response_format, { type: 'json_object' });
    },
  },
  {
    name: 'Vertex AI Gemini (@google/genai)',
    start: startGeminiWireServer,
    client: (s) =>
      new VertexGeminiProvider('gemini', {
        project: 'demo-project',
        location: 'europe-west4',
        baseUrl: s.url,
        maxOutputTokens: 1024,
        credential: fixedTokenCredential(TOKEN),
      }),
    model: 'gemini-test',
    logprobs: true,
    checkRequest: (s) => {
      const r = s.requests.at(-1)!;
      assert.equal(
        r.path,
        '/v1beta1/projects/demo-project/locations/europe-west4/publishers/google/models/gemini-test:generateContent',
      );
      assert.equal(r.headers.authorization, `Bearer ${TOKEN}`);
      const body = r.body as {
        contents: { parts: { text: string }[] }[];
        systemInstruction: { parts: { text: string }[] };
        generationConfig: Record<string, unknown>;
      };
      assert.equal(body.contents[0]!.parts[0]!.text, prompt.user);
      assert.equal(body.systemInstruction.parts[0]!.text, prompt.system);
      assert.equal(body.generationConfig.responseMimeType, 'application/json');
      assert.equal(body.generationConfig.responseLogprobs, true);
      assert.equal(body.generationConfig.maxOutputTokens, 1024);
    },
  },
  {
    name: 'Anthropic, direct (@anthropic-ai/sdk)',
    start: startAnthropicWireServer,
    client: (s) =>
      new AnthropicProvider('claude', {
        mode: 'direct',
        apiKey: API_KEY,
        baseUrl: s.url,
        maxOutputTokens: 1024,
      }),
    model: 'claude-test',
    logprobs: false,
    checkRequest: (s) => {
      const r = s.requests.at(-1)!;
      assert.equal(r.path, '/v1/messages');
      // This SDK version sends the API key as a bearer token.
      assert.equal(r.headers.authorization, `Bearer ${API_KEY}`);
      const body = r.body as Record<string, unknown>;
      assert.equal(body.model, 'claude-test');
      assert.equal(body.system, prompt.system);
      assert.deepEqual(body.messages, [{ role: 'user', content: prompt.user }]);
      assert.equal(body.max_tokens, 1024);
      assert.equal('temperature' in body, false, 'current Claude models reject sampling parameters');
    },
  },
  {
    name: 'Anthropic on Vertex AI (@anthropic-ai/vertex-sdk)',
    start: startAnthropicVertexWireServer,
    client: (s) =>
      new AnthropicProvider('claude-vertex', {
        mode: 'vertex',
        project: 'demo-project',
        location: 'us-east5',
        baseUrl: s.url,
        maxOutputTokens: 1024,
        credential: fixedTokenCredential(TOKEN),
      }),
    model: 'claude-test',
    logprobs: false,
    checkRequest: (s) => {
      const r = s.requests.at(-1)!;
      assert.equal(
        r.path,
        '/projects/demo-project/locations/us-east5/publishers/anthropic/models/claude-test:rawPredict',
      );
      assert.equal(r.headers.authorization, `Bearer ${TOKEN}`);
      assert.equal(r.headers['x-api-key'], undefined);
      const body = r.body as Record<string, unknown>;
      assert.equal(typeof body.anthropic_version, 'string');
      assert.deepEqual(body.messages, [{ role: 'user', content: prompt.user }]);
    },
  },
];

const answer =
  '{"medications":[{"name":"metformin","dose":"500 mg","route":null,"frequency":"twice daily"}]}';

async function callFailure(client: ProviderClient, model: string, signal = new AbortController().signal) {
  try {
    await client.complete({ model, prompt, signal });
  } catch (e) {
    assert.ok(isProviderCallError(e), `a ProviderCallError, not ${String(e)}`);
    const text = `${String(e)} ${JSON.stringify(e)} ${e.stack ?? ''}`;
    assert.ok(!text.includes(PROVIDER_SECRET_TEXT), 'the provider’s error text is not kept');
    assert.ok(!text.includes('provider-internal-detail') && !text.includes('Jane Roe'));
    assert.ok(!text.includes(API_KEY) && !text.includes(TOKEN), 'no credential in the error');
    assert.equal((e as Error).cause, undefined);
    return e as ProviderCallError;
  }
  assert.fail('the call succeeded');
}

for (const c of cases) {
  describe(`provider adapter: ${c.name}, over its wire format`, () => {
    let server: WireServer;
    let client: ProviderClient;

    before(async () => {
      server = await c.start();
      client = c.client(server);
    });
    after(async () => {
      await server.close();
    });

    it('maps a successful answer: text, logprobs where the provider gives them, model id, usage', async () => {
      server.respond({
        kind: 'answer',
        text: answer,
        logprobs: [-0.01, -0.2, -0.05],
        model: `${c.model}-002`,
      });
      const result = await client.complete({ model: c.model, prompt, signal: new AbortController().signal });
      c.checkRequest(server);
      assert.equal(result.text, answer);
      assert.deepEqual(result.tokenLogprobs, c.logprobs ? [-0.01, -0.2, -0.05] : null);
      assert.equal(result.model, `${c.model}-002`);
      assert.deepEqual(result.usage, { inputTokens: 42, outputTokens: 7 });
    });

    const statuses: [number, string][] = [
      [429, 'rate_limited'],
      [500, 'server_error'],
      [503, 'server_error'],
      [401, 'auth'],
      [403, 'auth'],
      [404, 'not_found'],
      [402, 'rejected'],
      [400, 'bad_request'],
      [413, 'bad_request'],
    ];
    for (const [status, kind] of statuses) {
      it(`classifies HTTP ${status} as ${kind}, keeping none of the provider's text`, async () => {
        server.respond({ kind: 'status', status });
        const before = server.requests.length;
        const e = await callFailure(client, c.model);
        assert.equal(e.failure, kind);
        assert.equal(e.httpStatus, status);
        assert.equal(server.requests.length, before + 1, 'no SDK retry: fallback is the router’s business');
      });
    }

    it('classifies a call abandoned at its deadline as a timeout, without waiting for the answer', async () => {
      // The answer would come after a minute; the caller's budget is 200 ms. Without the abort this test
      // would hit mocha's timeout.
      server.respond({ kind: 'slow', delayMs: 60_000 });
      const e = await callFailure(client, c.model, AbortSignal.timeout(200));
      assert.equal(e.failure, 'timeout');
    });

    it('classifies a body that is not JSON as malformed', async () => {
      server.respond({ kind: 'malformed' });
      assert.equal((await callFailure(client, c.model)).failure, 'malformed');
    });

    it('classifies an answer cut off midway (a 200 whose body stops) as malformed', async () => {
      const cutting = createServer((req, res) => {
        req.resume();
        req.on('end', () => {
          const body = JSON.stringify({ content: [{ type: 'text', text: answer }], candidates: [] });
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
          res.write(body.slice(0, 10));
          setImmediate(() => res.destroy());
        });
      });
      await new Promise<void>((resolve) => cutting.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = cutting.address() as AddressInfo;
        const cut = c.client({ ...server, url: `http://127.0.0.1:${port}` });
        assert.equal((await callFailure(cut, c.model)).failure, 'malformed');
      } finally {
        await new Promise((resolve) => cutting.close(resolve));
      }
    });

    it('classifies an answer with no text as malformed', async () => {
      server.respond({ kind: 'answer', text: '' });
      assert.equal((await callFailure(client, c.model)).failure, 'malformed');
    });

    it('classifies a refused answer as a bad request (about the input, not the provider’s health)', async () => {
      server.respond({ kind: 'answer', text: '', refused: true });
      const e = await callFailure(client, c.model);
      assert.equal(e.failure, 'bad_request');
      assert.equal(e.refusal, 'content_blocked');
    });

    it('classifies a provider that is not listening as a server error', async () => {
      const gone = await c.start();
      const orphan = c.client(gone);
      await gone.close();
      assert.equal((await callFailure(orphan, c.model)).failure, 'server_error');
    });
  });
}

describe('provider adapter: OpenAI-compatible (undici), against a local model server and its faults', () => {
  let server: ModelServer;
  let client: OpenAiCompatibleProvider;
  const medPrompt = {
    system: 'task: medication-extraction\nAnswer with JSON.',
    user: 'Metformin 500 mg daily.',
  };
  const behave = async (behaviour: Record<string, unknown>) => {
    const res = await fetch(`${server.url}/admin/behaviour`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(behaviour),
    });
    assert.equal(res.status, 204);
  };
  const failureOf = async (signal = new AbortController().signal) => {
    try {
      await client.complete({ model: 'local-clinical-1', prompt: medPrompt, signal });
    } catch (e) {
      assert.ok(isProviderCallError(e), `not a provider call error: ${String(e)}`);
      return e;
    }
    throw new Error('the call succeeded');
  };

  before(async () => {
    server = await startModelServer({ name: 'local-a', port: 0 });
    client = new OpenAiCompatibleProvider('local-a', { baseUrl: `${server.url}/v1` });
  });
  after(async () => {
    await server.close();
  });
  afterEach(async () => {
    await fetch(`${server.url}/admin/reset`, { method: 'POST' });
  });

  it('maps a completion: text, logprobs, model, usage', async () => {
    const result = await client.complete({
      model: 'local-clinical-1',
      prompt: medPrompt,
      signal: new AbortController().signal,
    });
    assert.ok(Array.isArray((JSON.parse(result.text) as { medications: unknown[] }).medications));
    assert.ok(result.tokenLogprobs && result.tokenLogprobs.length > 0);
    assert.equal(result.model, 'local-clinical-1');
    assert.ok(result.usage && result.usage.inputTokens > 0);
  });

  for (const fault of ['html', 'empty-choices', 'invalid-json', 'truncated'] as const) {
    it(`classifies a 200 with ${fault} as malformed, not as a server error`, async () => {
      await behave({ fault });
      const e = await failureOf();
      assert.equal(e.failure, 'malformed');
      assert.ok(!e.message.includes('Bad Gateway') && !e.message.includes('medications'));
    });
  }

  it('classifies a provider that hangs as a timeout when the caller gives up', async () => {
    await behave({ fault: 'hang' });
    assert.equal((await failureOf(AbortSignal.timeout(200))).failure, 'timeout');
  });

  it('reads an OpenAI-style 400: a refusal code names the cause; a parameter other than the messages is our fault', async () => {
    const errors: Record<string, unknown>[] = [
      { code: 'context_length_exceeded', param: 'messages' },
      { code: 'content_filter', param: null },
      { code: null, param: 'logprobs' },
      { code: null, param: 'messages[1].content' },
    ];
    const wire = createServer((_req, res) => {
      const error = errors.shift();
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ error: { message: 'provider words', type: 'invalid_request_error', ...error } }),
      );
    });
    await new Promise<void>((resolve) => wire.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = wire.address() as AddressInfo;
      const direct = new OpenAiCompatibleProvider('openai', { baseUrl: `http://127.0.0.1:${port}/v1` });
      const kinds = [];
      for (let i = 0; i < 4; i++) {
        const e = await direct
          .complete({ model: 'm', prompt: medPrompt, signal: new AbortController().signal })
          .then(
            () => assert.fail('the call succeeded'),
            (err: ProviderCallError) => err,
          );
        assert.ok(!e.message.includes('provider words'));
        kinds.push([e.failure, e.refusal]);
      }
      assert.deepEqual(kinds, [
        ['bad_request', 'too_large'],
        ['bad_request', 'content_blocked'],
        ['rejected', null],
        ['bad_request', 'invalid_input'],
      ]);
    } finally {
      await new Promise((resolve) => wire.close(resolve));
    }
  });

  it('reads no more than 8 MiB of an answer: a larger body is malformed, not buffered', async () => {
    // A well-formed completion, 9 MiB long: without the limit it would be read whole and succeed.
    const wire = await startOpenAiWireServer();
    wire.respond({ kind: 'answer', text: 'x'.repeat(9 * 1024 * 1024) });
    try {
      const direct = new OpenAiCompatibleProvider('openai', { baseUrl: `${wire.url}/v1` });
      const e = await direct
        .complete({ model: 'm', prompt: medPrompt, signal: new AbortController().signal })
        .then(
          () => assert.fail('the call succeeded'),
          (err: ProviderCallError) => err,
        );
      assert.equal(e.failure, 'malformed');
    } finally {
      await wire.close();
    }
  });

  it('says what a 400 or 413 refused about the input', async () => {
    await behave({ failRate: 1, failStatus: 413 });
    const tooLarge = await failureOf();
    assert.deepEqual([tooLarge.failure, tooLarge.refusal], ['bad_request', 'too_large']);
    await behave({ failRate: 1, failStatus: 400 });
    const invalid = await failureOf();
    assert.deepEqual([invalid.failure, invalid.refusal], ['bad_request', 'invalid_input']);
  });
});

describe('Claude answers wrapped in a Markdown code fence', () => {
  it('are unwrapped; anything else is left for the JSON check', () => {
    assert.equal(withoutCodeFence('```json\n{"a":1}\n```'), '{"a":1}');
    assert.equal(withoutCodeFence('  ```\n{"a":1}\n```\n'), '{"a":1}');
    assert.equal(withoutCodeFence('{"a":1}'), '{"a":1}');
    assert.equal(
      withoutCodeFence('Here you go: ```json\n{"a":1}\n```'),
      'Here you go: ```json\n{"a":1}\n```',
    );
  });
});

describe('createProviderClients: the routing table to clients, keys from the environment', () => {
  let server: WireServer;
  before(async () => {
    server = await startAnthropicWireServer();
  });
  after(async () => {
    await server.close();
  });

  const routing = (url: string) =>
    routingSchema.parse({
      providers: {
        'local-a': { kind: 'openai-compatible', baseUrl: 'http://127.0.0.1:1/v1' },
        gemini: { kind: 'vertex-gemini', location: 'us-central1' },
        claude: {
          kind: 'anthropic',
          mode: 'direct',
          baseUrl: url,
          apiKeyEnv: 'TEST_CLAUDE_KEY',
        },
        'claude-vertex': { kind: 'anthropic', mode: 'vertex', location: 'us-east5' },
      },
      tasks: { 'medication-extraction': { chain: [{ provider: 'claude', model: 'claude-test' }] } },
    });

  it('builds one client per provider, reading the key from the named variable', async () => {
    const clients = createProviderClients(routing(server.url), {
      project: 'demo-project',
      env: { TEST_CLAUDE_KEY: API_KEY },
    });
    assert.deepEqual([...clients.keys()], ['local-a', 'gemini', 'claude', 'claude-vertex']);
    server.respond({ kind: 'answer', text: answer });
    await clients
      .get('claude')!
      .complete({ model: 'claude-test', prompt, signal: new AbortController().signal });
    assert.equal(server.requests.at(-1)!.headers.authorization, `Bearer ${API_KEY}`);
  });

  it('refuses to start without the key, naming the variable and never a value', () => {
    assert.throws(
      () => createProviderClients(routing(server.url), { project: 'demo-project', env: {} }),
      (e: unknown) => e instanceof ConfigError && e.message.includes('TEST_CLAUDE_KEY'),
    );
    assert.throws(
      () =>
        createProviderClients(routing(server.url), { project: 'demo-project', env: { TEST_CLAUDE_KEY: '' } }),
      ConfigError,
    );
  });
});
