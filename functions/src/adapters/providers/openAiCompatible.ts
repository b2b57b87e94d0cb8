import type { Dispatcher } from 'undici';
import { z } from 'zod';
import {
  type InputRefusal,
  ProviderCallError,
  type ProviderClient,
  type ProviderRequest,
  type ProviderResult,
  providerStatusError,
} from '../../core/providers/provider.js';
import { loadOnce } from './loadOnce.js';

/** Loaded by the first provider built (~25 MiB), so functions that never call a model never load it. */
const loadUndici = loadOnce(() => import('undici'));

/** The part of a `chat.completion` we use. Anything that does not fit is a malformed answer. */
const completionSchema = z.object({
  model: z.string().optional(),
  choices: z
    .array(
      z.object({
        message: z.object({ content: z.string().nullish(), refusal: z.string().nullish() }),
        finish_reason: z.string().nullish(),
        logprobs: z.object({ content: z.array(z.object({ logprob: z.number() })).nullish() }).nullish(),
      }),
    )
    .min(1),
  usage: z.object({ prompt_tokens: z.number(), completion_tokens: z.number() }).nullish(),
});

/** The error body OpenAI-compatible servers send with a 4xx/5xx: only the machine-readable fields. */
const errorBodySchema = z.object({
  error: z.object({ code: z.string().nullish(), param: z.string().nullish() }),
});

/** OpenAI error codes of a 400 that refuse this input, and what they say about it. */
const refusalCodes: Record<string, InputRefusal> = {
  context_length_exceeded: 'too_large',
  string_above_max_length: 'too_large',
  content_filter: 'content_blocked',
  content_policy_violation: 'content_blocked',
};

/** A completion is a few KiB; a body far past that is not an answer, and is not read into memory. */
const MAX_RESPONSE_BYTES = 8 * 1024 * 1024;
/** The caller's signal bounds every call (the route's `timeoutMs`); this only catches a signal never fired. */
const CALL_TIMEOUT_MS = 60_000;

/**
 * Any OpenAI-compatible chat-completions endpoint: OpenAI, Azure OpenAI, vLLM, Ollama and our local model
 * servers. One POST of the documented wire format through undici (the HTTP client behind Node's fetch, keep-alive
 * connections per origin): the call is on every new key's path, and the `openai` SDK's request machinery
 * (header building, logging hooks, its fetch and web streams) cost 0.64 ms of CPU per call against 0.26 ms
 * for the same call through `undici.request` (docs/benchmarks.md). Retries are the router's business
 * (fallback down the chain), so there are none here.
 *
 * Failures are classified from the status and the error body's `code` and `param` only: the provider's
 * text is never kept. A 200 whose body is cut off, is not JSON, or is JSON that is not a completion is
 * `malformed` (the provider answered, badly), not a connection failure.
 */
export class OpenAiCompatibleProvider implements ProviderClient {
  private readonly url: string;
  private readonly headers: Record<string, string>;
  private readonly ready: Promise<{ request: typeof import('undici')['request']; dispatcher: Dispatcher }>;

  constructor(
    readonly name: string,
    options: { baseUrl: string; apiKey?: string | undefined },
  ) {
    this.url = `${options.baseUrl.replace(/\/+$/, '')}/chat/completions`;
    this.headers = {
      'content-type': 'application/json',
      accept: 'application/json',
      // Local servers and some self-hosted endpoints need no key.
      ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
    };
    this.ready = loadUndici().then((undici) => ({
      request: undici.request,
      dispatcher: new undici.Agent({
        headersTimeout: CALL_TIMEOUT_MS,
        bodyTimeout: CALL_TIMEOUT_MS,
        maxResponseSize: MAX_RESPONSE_BYTES,
      }),
    }));
    this.ready.catch(() => undefined); // a failed load fails each call instead
  }

  async complete(call: ProviderRequest): Promise<ProviderResult> {
    const { request, dispatcher } = await this.ready;
    let response: Dispatcher.ResponseData;
    try {
      response = await request(this.url, {
        method: 'POST',
        headers: this.headers,
        body: JSON.stringify({
          model: call.model,
          messages: [
            { role: 'system', content: call.prompt.system },
            { role: 'user', content: call.prompt.user },
          ],
          logprobs: true,
          temperature: 0,
          response_format: { type: 'json_object' },
        }),
        signal: call.signal,
        dispatcher,
      });
    } catch (e) {
      throw this.unanswered(call.signal, e);
    }
    const answered = response.statusCode >= 200 && response.statusCode < 300;
    let body: string | null = null;
    try {
      body = await response.body.text();
    } catch (e) {
      // The status and headers came, the body stopped (or ran past the size limit): cut off, unless we gave
      // up waiting for it. An error status stands on its own.
      if (answered) {
        throw new ProviderCallError(this.name, call.signal.aborted || isTimeout(e) ? 'timeout' : 'malformed');
      }
    }
    if (!answered) throw this.refused(response.statusCode, body ?? '');
    const completion = completionSchema.safeParse(parseJson(body ?? ''));
    if (!completion.success) throw new ProviderCallError(this.name, 'malformed');
    const { choices, model, usage } = completion.data;
    const choice = choices[0]!;
    if (choice.message.refusal || choice.finish_reason === 'content_filter') {
      throw new ProviderCallError(this.name, 'bad_request', null, 'content_blocked');
    }
    if (!choice.message.content) throw new ProviderCallError(this.name, 'malformed');
    const tokens = choice.logprobs?.content;
    return {
      text: choice.message.content,
      tokenLogprobs: tokens && tokens.length > 0 ? tokens.map((t) => t.logprob) : null,
      model: model || call.model,
      usage: usage ? { inputTokens: usage.prompt_tokens, outputTokens: usage.completion_tokens } : null,
    };
  }

  /** No answer at all: abandoned at the caller's deadline, or the provider was not reached. */
  private unanswered(signal: AbortSignal, e: unknown): ProviderCallError {
    return new ProviderCallError(this.name, signal.aborted || isTimeout(e) ? 'timeout' : 'server_error');
  }

  /** An error status, read with its body's `code` and `param` (OpenAI's error shape), nothing else. */
  private refused(status: number, body: string): ProviderCallError {
    if (status === 400) {
      const parsed = errorBodySchema.safeParse(parseJson(body));
      const { code, param } = parsed.success ? parsed.data.error : { code: null, param: null };
      const refusal = code ? refusalCodes[code] : undefined;
      if (refusal) return new ProviderCallError(this.name, 'bad_request', 400, refusal);
      // A 400 naming a parameter other than the messages is about our configuration (a model that does not
      // take `logprobs` or `response_format`), not this input: every call would get it.
      if (param && !param.startsWith('messages')) return new ProviderCallError(this.name, 'rejected', 400);
    }
    return providerStatusError(this.name, status);
  }
}

/** undici's own deadlines (headers or body too slow), as opposed to a connection that failed. */
const isTimeout = (e: unknown): boolean =>
  e instanceof Error &&
  'code' in e &&
  (e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT');

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
