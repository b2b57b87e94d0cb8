import type * as GenAiModule from '@google/genai';
import type { GenerateContentResponse, GoogleGenAI, GoogleGenAIOptions } from '@google/genai';
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

type GenAiSdk = typeof GenAiModule;
/** Loaded by the first provider built, so functions that never call a model never load the SDK. */
const loadSdk = loadOnce(() => import('@google/genai'));

type SdkAuthClient = NonNullable<NonNullable<GoogleGenAIOptions['googleAuthOptions']>['authClient']>;

export type VertexGeminiOptions = {
  project: string;
  location: string;
  /** Overrides the Vertex AI endpoint (tests point it at a local server). */
  baseUrl?: string | undefined;
  maxOutputTokens: number;
  /** Left out: Application Default Credentials (the function's service account). */
  credential?: GoogleCredential | undefined;
};

/** Finish reasons that mean the content was refused: a property of the request, not of the provider's health. */
const refusals = new Set<string>([
  'SAFETY',
  'RECITATION',
  'BLOCKLIST',
  'PROHIBITED_CONTENT',
  'SPII',
] satisfies `${GenAiSdk['FinishReason'][keyof GenAiSdk['FinishReason']]}`[]);

/**
 * Gemini on Vertex AI through `@google/genai`. Asks for JSON (`responseMimeType`) and for the chosen tokens'
 * log-probabilities, which the confidence scorer uses. The SDK's retries stay off: falling back down the
 * provider chain is the router's business.
 */
export class VertexGeminiProvider implements ProviderClient {
  private readonly ready: Promise<{ sdk: GenAiSdk; ai: GoogleGenAI }>;

  constructor(
    readonly name: string,
    private readonly options: VertexGeminiOptions,
  ) {
    this.ready = loadSdk().then((sdk) => ({
      sdk,
      ai: new sdk.GoogleGenAI({
        vertexai: true,
        project: options.project,
        location: options.location,
        ...(options.baseUrl ? { httpOptions: { baseUrl: options.baseUrl } } : {}),
        ...(options.credential
          ? { googleAuthOptions: { authClient: asSdkAuthClient<SdkAuthClient>(options.credential) } }
          : {}),
      }),
    }));
    this.ready.catch(() => undefined); // a failed load fails each call instead
  }

  async complete(request: ProviderRequest): Promise<ProviderResult> {
    const { sdk, ai } = await this.ready;
    let response: GenerateContentResponse;
    try {
      response = await ai.models.generateContent({
        model: request.model,
        contents: [{ role: 'user', parts: [{ text: request.prompt.user }] }],
        config: {
          systemInstruction: request.prompt.system,
          temperature: 0,
          responseMimeType: 'application/json',
          responseLogprobs: true,
          maxOutputTokens: this.options.maxOutputTokens,
          abortSignal: request.signal,
        },
      });
    } catch (e) {
      throw this.classify(e, request.signal, sdk);
    }
    if (response.promptFeedback?.blockReason)
      throw new ProviderCallError(this.name, 'bad_request', null, 'content_blocked');
    const candidate = response.candidates?.[0];
    if (candidate?.finishReason && refusals.has(candidate.finishReason)) {
      throw new ProviderCallError(this.name, 'bad_request', null, 'content_blocked');
    }
    const parts = candidate?.content?.parts ?? [];
    const text = parts
      .filter((p) => !p.thought && typeof p.text === 'string')
      .map((p) => p.text)
      .join('');
    if (text.length === 0) throw new ProviderCallError(this.name, 'malformed');
    const chosen = candidate?.logprobsResult?.chosenCandidates ?? [];
    const logprobs = chosen.map((c) => c.logProbability).filter((lp): lp is number => typeof lp === 'number');
    const usage = response.usageMetadata;
    return {
      text,
      tokenLogprobs: logprobs.length > 0 && logprobs.length === chosen.length ? logprobs : null,
      model: response.modelVersion || request.model,
      usage: usage
        ? { inputTokens: usage.promptTokenCount ?? 0, outputTokens: usage.candidatesTokenCount ?? 0 }
        : null,
    };
  }

  private classify(e: unknown, signal: AbortSignal, sdk: GenAiSdk): ProviderCallError {
    if (signal.aborted || isAbort(e)) return new ProviderCallError(this.name, 'timeout');
    if (e instanceof sdk.ApiError) return providerStatusError(this.name, e.status);
    return callFailure(this.name, e);
  }
}

const isAbort = (e: unknown): boolean =>
  e instanceof Error && (e.name === 'AbortError' || e.name === 'TimeoutError');
