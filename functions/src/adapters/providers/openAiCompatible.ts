import OpenAI, { APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import {
  failureKindForStatus,
  ProviderCallError,
  type ProviderClient,
  type ProviderRequest,
  type ProviderResult,
} from '../../core/providers/provider.js';

/**
 * Any OpenAI-compatible chat-completions endpoint: OpenAI, Azure OpenAI, vLLM, Ollama and our local model
 * servers. Retries are the router's business (fallback down the chain), so the SDK's own retries are off.
 */
export class OpenAiCompatibleProvider implements ProviderClient {
  private readonly client: OpenAI;

  constructor(
    readonly name: string,
    options: { baseUrl: string; apiKey?: string | undefined },
  ) {
    this.client = new OpenAI({
      baseURL: options.baseUrl,
      // Local servers and some self-hosted endpoints need no key; the SDK insists on a value.
      apiKey: options.apiKey ?? 'unused',
      maxRetries: 0,
      timeout: 60_000,
    });
  }

  async complete(request: ProviderRequest): Promise<ProviderResult> {
    let completion: OpenAI.Chat.Completions.ChatCompletion;
    try {
      completion = await this.client.chat.completions.create(
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
      );
    } catch (e) {
      throw this.classify(e);
    }
    const choice = completion.choices?.[0];
    const text = choice?.message?.content;
    if (typeof text !== 'string') throw new ProviderCallError(this.name, 'malformed');
    const tokens = choice?.logprobs?.content;
    return {
      text,
      tokenLogprobs: tokens && tokens.length > 0 ? tokens.map((t) => t.logprob) : null,
      model: completion.model || request.model,
      usage: completion.usage
        ? { inputTokens: completion.usage.prompt_tokens, outputTokens: completion.usage.completion_tokens }
        : null,
    };
  }

  private classify(e: unknown): ProviderCallError {
    if (e instanceof APIUserAbortError || e instanceof APIConnectionTimeoutError) {
      return new ProviderCallError(this.name, 'timeout');
    }
    if (e instanceof APIError && typeof e.status === 'number') {
      return new ProviderCallError(this.name, failureKindForStatus(e.status), e.status);
    }
    // Connection refused, reset, DNS: the provider is not answering.
    return new ProviderCallError(this.name, 'server_error');
  }
}
