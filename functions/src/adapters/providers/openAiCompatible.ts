import type * as OpenAiModule from 'openai';
import type OpenAI from 'openai';
import { z } from 'zod';
import {
  type InputRefusal,
  ProviderCallError,
  type ProviderClient,
  type ProviderRequest,
  type ProviderResult,
  providerStatusError,
} from '../../core/providers/provider.js';
import { callFailure } from './callFailure.js';
import { loadOnce } from './loadOnce.js';

type OpenAiSdk = typeof OpenAiModule;
/** Loaded by the first provider built, so functions that never call a model never load the SDK. */
const loadSdk = loadOnce(() => import('openai'));

/** The part of a `chat.completion` we use. Anything that does not fit is a malformed answer. */
const completionSchema = z.object({
  model: z.string().optional(),
  choices: z
    .array(
      z.object({
        message: z.object({ content: z.string() }),
        logprobs: z.object({ content: z.array(z.object({ logprob: z.number() })).nullish() }).nullish(),
      }),
    )
    .min(1),
  usage: z.object({ prompt_tokens: z.number(), completion_tokens: z.number() }).nullish(),
});

/** OpenAI error codes of a 400 that refuse this input, and what they say about it. */
const refusalCodes: Record<string, InputRefusal> = {
  context_length_exceeded: 'too_large',
  string_above_max_length: 'too_large',
  content_filter: 'content_blocked',
  content_policy_violation: 'content_blocked',
};

/**
 * Any OpenAI-compatible chat-completions endpoint: OpenAI, Azure OpenAI, vLLM, Ollama and our local model
 * servers. Retries are the router's business (fallback down the chain), so the SDK's own retries are off.
 *
 * The SDK sends the request and turns error statuses into typed errors; the 200 body is read and checked
 * here, so that an answer cut off mid-way, a body that is not JSON, or JSON that is not a completion is
 * `malformed` (the provider answered, badly) and not a connection failure.
 */
export class OpenAiCompatibleProvider implements ProviderClient {
  private readonly ready: Promise<{ sdk: OpenAiSdk; client: OpenAI }>;

  constructor(
    readonly name: string,
    options: { baseUrl: string; apiKey?: string | undefined },
  ) {
    this.ready = loadSdk().then((sdk) => ({
      sdk,
      client: new sdk.default({
        baseURL: options.baseUrl,
        // Local servers and some self-hosted endpoints need no key; the SDK insists on a value.
        apiKey: options.apiKey ?? 'unused',
        maxRetries: 0,
        timeout: 60_000,
      }),
    }));
    this.ready.catch(() => undefined); // a failed load fails each call instead
  }

  async complete(request: ProviderRequest): Promise<ProviderResult> {
    const { sdk, client } = await this.ready;
    let response: Response;
    try {
      response = await client.chat.completions
        .create(
          {
            model: request.model,
            messages: [
              { role: 'system', content: request.prompt.system },
              { role: 'user', content: request.prompt.user },
            ],
            logprobs: true,
            temperature: 0,
            response_format: { type: 'json_object' },
          },
          { signal: request.signal },
        )
        .asResponse();
    } catch (e) {
      throw this.classify(e, sdk);
    }
    let body: string;
    try {
      body = await response.text();
    } catch {
      // The status and headers came, the body stopped: cut off, unless we gave up waiting for it.
      throw new ProviderCallError(this.name, request.signal.aborted ? 'timeout' : 'malformed');
    }
    const completion = completionSchema.safeParse(parseJson(body));
    if (!completion.success) throw new ProviderCallError(this.name, 'malformed');
    const { choices, model, usage } = completion.data;
    const choice = choices[0]!;
    const tokens = choice.logprobs?.content;
    return {
      text: choice.message.content,
      tokenLogprobs: tokens && tokens.length > 0 ? tokens.map((t) => t.logprob) : null,
      model: model || request.model,
      usage: usage ? { inputTokens: usage.prompt_tokens, outputTokens: usage.completion_tokens } : null,
    };
  }

  private classify(e: unknown, sdk: OpenAiSdk): ProviderCallError {
    if (e instanceof sdk.APIUserAbortError || e instanceof sdk.APIConnectionTimeoutError) {
      return new ProviderCallError(this.name, 'timeout');
    }
    if (e instanceof sdk.APIError && typeof e.status === 'number') {
      if (e.status === 400) {
        const refusal = typeof e.code === 'string' ? refusalCodes[e.code] : undefined;
        if (refusal) return new ProviderCallError(this.name, 'bad_request', 400, refusal);
        // A 400 naming a parameter other than the messages is about our configuration (a model that does
        // not take `logprobs` or `response_format`), not this input: every call would get it.
        if (typeof e.param === 'string' && e.param !== '' && !e.param.startsWith('messages')) {
          return new ProviderCallError(this.name, 'rejected', 400);
        }
      }
      return providerStatusError(this.name, e.status);
    }
    return callFailure(this.name, e);
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
