import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GoogleCredential } from '../../functions/src/adapters/providers/googleCredential.js';

/**
 * Local HTTP servers that speak a provider's wire format (Vertex AI Gemini `generateContent`, the Anthropic
 * Messages API and its Vertex `rawPredict` form), so the adapters are tested through the real SDKs, over
 * real HTTP, rather than against a fake of our own interface. A test says how the next calls are answered:
 * a model answer, an HTTP error in the provider's error shape, a slow answer, or a body that is not JSON.
 * Every request is recorded (path, headers, parsed body) for assertions.
 */

export type WireBehaviour =
  /** `refused`: the model declined to answer, in the dialect's own way (a finish or stop reason, a refusal). */
  | { kind: 'answer'; text: string; logprobs?: number[]; model?: string; refused?: boolean }
  | { kind: 'status'; status: number }
  | { kind: 'slow'; delayMs: number }
  | { kind: 'malformed' };

export type RecordedRequest = {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: unknown;
};

export type WireServer = {
  url: string;
  requests: RecordedRequest[];
  respond(behaviour: WireBehaviour): void;
  close(): Promise<void>;
};

/** Text every error body carries, so tests can check it never travels further than the SDK. */
export const PROVIDER_SECRET_TEXT = 'provider-internal-detail patient Jane Roe MRN 0042';

type Dialect = {
  /** Whether the request is the dialect's completion call. */
  matches(method: string, path: string): boolean;
  answer(b: Extract<WireBehaviour, { kind: 'answer' }>): unknown;
  error(status: number): unknown;
};

const googleStatus: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
};

const gemini: Dialect = {
  matches: (method, path) =>
    method === 'POST' &&
    /^\/v1beta1\/projects\/[^/]+\/locations\/[^/]+\/publishers\/google\/models\/[^/:]+:generateContent$/.test(
      path,
    ),
  answer: (b) => ({
    candidates: [
      {
        content: { role: 'model', parts: [{ text: b.text }] },
        finishReason: b.refused ? 'SAFETY' : 'STOP',
        ...(b.logprobs
          ? {
              avgLogprobs: b.logprobs.reduce((s, x) => s + x, 0) / Math.max(1, b.logprobs.length),
              logprobsResult: {
                chosenCandidates: b.logprobs.map((logProbability, i) => ({ token: `t${i}`, logProbability })),
                topCandidates: [],
              },
            }
          : {}),
      },
    ],
    usageMetadata: { promptTokenCount: 42, candidatesTokenCount: 7, totalTokenCount: 49 },
    modelVersion: b.model ?? 'gemini-test-001',
    responseId: 'resp-1',
  }),
  error: (status) => ({
    error: { code: status, message: PROVIDER_SECRET_TEXT, status: googleStatus[status] ?? 'UNKNOWN' },
  }),
};

const anthropicErrorType: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
};

const anthropicAnswer = (b: Extract<WireBehaviour, { kind: 'answer' }>) => ({
  id: 'msg_test_1',
  type: 'message',
  role: 'assistant',
  model: b.model ?? 'claude-test-1',
  content: [{ type: 'text', text: b.text }],
  stop_reason: b.refused ? 'refusal' : 'end_turn',
  stop_sequence: null,
  usage: { input_tokens: 42, output_tokens: 7 },
});

const anthropicError = (status: number) => ({
  type: 'error',
  error: { type: anthropicErrorType[status] ?? 'api_error', message: PROVIDER_SECRET_TEXT },
});

const anthropicDirect: Dialect = {
  matches: (method, path) => method === 'POST' && path === '/v1/messages',
  answer: anthropicAnswer,
  error: anthropicError,
};

const anthropicVertex: Dialect = {
  matches: (method, path) =>
    method === 'POST' &&
    /^\/projects\/[^/]+\/locations\/[^/]+\/publishers\/anthropic\/models\/[^/:]+:rawPredict$/.test(path),
  answer: anthropicAnswer,
  error: anthropicError,
};

const openAiErrorType: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  429: 'rate_limit_exceeded',
  500: 'server_error',
  503: 'server_error',
};

const openAiCompatible: Dialect = {
  matches: (method, path) => method === 'POST' && path === '/v1/chat/completions',
  answer: (b) => ({
    id: 'chatcmpl-test-1',
    object: 'chat.completion',
    created: 1_796_000_000,
    model: b.model ?? 'gpt-test-1',
    choices: [
      {
        index: 0,
        // A refusal comes as `refusal` text, with no content (structured outputs).
        message: {
          role: 'assistant',
          content: b.refused ? null : b.text,
          refusal: b.refused ? 'I can’t help.' : null,
        },
        finish_reason: 'stop',
        logprobs: b.logprobs
          ? {
              content: b.logprobs.map((logprob, i) => ({
                token: `t${i}`,
                logprob,
                bytes: [],
                top_logprobs: [],
              })),
            }
          : null,
      },
    ],
    usage: { prompt_tokens: 42, completion_tokens: 7, total_tokens: 49 },
  }),
  error: (status) => ({
    error: {
      message: PROVIDER_SECRET_TEXT,
      type: openAiErrorType[status] ?? 'api_error',
      param: null,
      code: null,
    },
  }),
};

export const startGeminiWireServer = () => startWireServer(gemini);
/** OpenAI-compatible chat completions: the SDK's baseURL is this server's `/v1`. */
export const startOpenAiWireServer = () => startWireServer(openAiCompatible);
export const startAnthropicWireServer = () => startWireServer(anthropicDirect);
/** Claude on Vertex: mount the SDK's baseURL at this server's root. */
export const startAnthropicVertexWireServer = () => startWireServer(anthropicVertex);

/** A Google credential with a fixed token: the SDKs authenticate without any network. */
export const fixedTokenCredential = (token: string): GoogleCredential => ({
  getRequestHeaders: async () => new Headers({ authorization: `Bearer ${token}` }),
});

async function startWireServer(dialect: Dialect): Promise<WireServer> {
  let behaviour: WireBehaviour = { kind: 'answer', text: '{}' };
  const requests: RecordedRequest[] = [];
  const answer = { kind: 'answer' as const, text: '{"ok":true}' };

  const server = createServer((req, res) => {
    void handle(req, res);
  });
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    const path = (req.url ?? '/').split('?', 1)[0]!;
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {}
    requests.push({ method: req.method ?? '', path, headers: req.headers, body });
    if (!dialect.matches(req.method ?? '', path))
      return send(res, 404, { error: { message: 'no such route' } });
    const current = behaviour;
    switch (current.kind) {
      case 'answer':
        return send(res, 200, dialect.answer(current));
      case 'status':
        return send(res, current.status, dialect.error(current.status));
      case 'malformed':
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.end('{"candidates": [ {"content": ');
      case 'slow': {
        const timer = setTimeout(() => send(res, 200, dialect.answer(answer)), current.delayMs);
        timer.unref();
        res.once('close', () => clearTimeout(timer));
        return;
      }
    }
  };

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    respond(b) {
      behaviour = b;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
