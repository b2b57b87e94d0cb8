import type * as AnthropicModule from '@anthropic-ai/sdk';
import type Anthropic from '@anthropic-ai/sdk';
import type { AnthropicVertex, ClientOptions as VertexClientOptions } from '@anthropic-ai/vertex-sdk';
import {
  ProviderCallError,
  type ProviderClient,
  type ProviderRequest,
  type ProviderResult,
  providerStatusError,
} from '../../core/providers/provider.js';
import { callFailure } from './callFailure.js';
import { asSdkAuthClient, type GoogleCredential } from './googleCredential.js';
import { loadOnce } from './loadOnce.js';

type AnthropicSdk = typeof AnthropicModule;
/** Loaded by the first provider built, so functions that never call a model never load the SDKs. */
const loadSdk = loadOnce(() => import('@anthropic-ai/sdk'));
const loadVertexSdk = loadOnce(() => import('@anthropic-ai/vertex-sdk'));

type SdkAuthClient = NonNullable<VertexClientOptions['authClient']>;

export type AnthropicOptions =
  | { mode: 'direct'; apiKey: string; baseUrl?: string | undefined; maxOutputTokens: number }
  | {
      mode: 'vertex';
      project: string;
      location: string;
      baseUrl?: string | undefined;
      maxOutputTokens: number;
      /** Left out: Application Default Credentials (the function's service account). */
      credential?: GoogleCredential | undefined;
    };

/**
 * Claude, through the Anthropic API with a key (`direct`) or on Vertex AI with Google credentials (`vertex`).
 * The Messages API returns no log-probabilities, so `tokenLogprobs` is null and the scorer's conservative
 * rule applies. No sampling parameters are sent: current Claude models reject `temperature`. The SDK's
 * retries stay off: falling back down the provider chain is the router's business.
 */
export class AnthropicProvider implements ProviderClient {
  private readonly ready: Promise<{ sdk: AnthropicSdk; client: Anthropic | AnthropicVertex }>;

  constructor(
    readonly name: string,
    private readonly options: AnthropicOptions,
  ) {
    const common = { maxRetries: 0, ...(options.baseUrl ? { baseURL: options.baseUrl } : {}) };
    this.ready = (async () => {
      const sdk = await loadSdk();
      if (options.mode === 'direct') {
        return { sdk, client: new sdk.default({ ...common, apiKey: options.apiKey, authToken: null }) };
      }
      const vertex = await loadVertexSdk();
      return {
        sdk,
        client: new vertex.AnthropicVertex({
          ...common,
          projectId: options.project,
          region: options.location,
          ...(options.credential ? { authClient: asSdkAuthClient<SdkAuthClient>(options.credential) } : {}),
        }),
      };
    })();
    this.ready.catch(() => undefined); // a failed load fails each call instead
  }

  async complete(request: ProviderRequest): Promise<ProviderResult> {
    const { sdk, client } = await this.ready;
    let message: Anthropic.Message;
    try {
      message = await client.messages.create(
        {
          model: request.model,
          max_tokens: this.options.maxOutputTokens,
          system: request.prompt.system,
          messages: [{ role: 'user', content: request.prompt.user }],
        },
        { signal: request.signal },
      );
    } catch (e) {
      throw this.classify(e, request.signal, sdk);
    }
    if (message?.stop_reason === 'refusal')
      throw new ProviderCallError(this.name, 'bad_request', null, 'content_blocked');
    const blocks = Array.isArray(message?.content) ? message.content : [];
    const text = blocks
      .filter((b): b is Anthropic.TextBlock => b.type === 'text' && typeof b.text === 'string')
      .map((b) => b.text)
      .join('');
    if (text.trim().length === 0) throw new ProviderCallError(this.name, 'malformed');
    return {
      text: withoutCodeFence(text),
      tokenLogprobs: null,
      model: typeof message.model === 'string' && message.model ? message.model : request.model,
      usage: message.usage
        ? { inputTokens: message.usage.input_tokens, outputTokens: message.usage.output_tokens }
        : null,
    };
  }

  private classify(e: unknown, signal: AbortSignal, sdk: AnthropicSdk): ProviderCallError {
    if (signal.aborted || e instanceof sdk.APIUserAbortError || e instanceof sdk.APIConnectionTimeoutError) {
      return new ProviderCallError(this.name, 'timeout');
    }
    if (e instanceof sdk.APIError && typeof e.status === 'number') {
      return providerStatusError(this.name, e.status);
    }
    return callFailure(this.name, e);
  }
}

/**
 * Claude has no JSON mode and sometimes wraps its JSON answer in a Markdown code fence; the answer inside is
 * what the task asked for. Anything else is returned as it is, for the gateway's JSON check to judge.
 */
export function withoutCodeFence(text: string): string {
  const fenced = /^\s*```[A-Za-z]*\s*\n([\s\S]*?)\n\s*```\s*$/.exec(text);
  return fenced ? fenced[1]! : text;
}
