import type { ChatPrompt } from '../tasks.js';

/**
 * One small interface in front of every AI provider. Adapters (adapters/providers/) map their wire format to
 * `ProviderResult` and their failures to `ProviderCallError` with one of a few kinds the breakers understand.
 */

export type ProviderRequest = {
  model: string;
  prompt: ChatPrompt;
  /** The call is abandoned (and counted as a timeout) when this fires. */
  signal: AbortSignal;
};

export type ProviderResult = {
  /** The model's answer as text; the gateway parses and validates it. */
  text: string;
  /** Log-probabilities of the answer's tokens, when the provider returns them. */
  tokenLogprobs: number[] | null;
  /** The model that actually answered, as the provider names it (may carry a version). */
  model: string;
  usage: { inputTokens: number; outputTokens: number } | null;
};

export interface ProviderClient {
  readonly name: string;
  complete(request: ProviderRequest): Promise<ProviderResult>;
}

/**
 * Why a provider call failed. Every kind but `bad_request` counts against the provider's breaker:
 *
 * - `bad_request`: the provider refused this very input (HTTP 400 or 413 about the request's content, a
 *   context-length or content-filter refusal, a safety block). Another input would have been answered.
 * - `auth` (401, 403), `not_found` (404, 410: a retired model name, a wrong endpoint), `rejected` (any other
 *   4xx: a quota or payment problem, a parameter the model does not take): the provider refuses every call
 *   until someone changes our configuration or account, so every call would pay the extra round trip.
 * - `rate_limited` (429, including an exhausted quota), `timeout`, `server_error` (5xx, no connection).
 * - `malformed`: the provider answered 200 with something that is not a usable answer: not JSON, cut off,
 *   no choices, prose instead of JSON, or JSON that does not fit the task's output schema.
 */
export const failureKinds = [
  'timeout',
  'rate_limited',
  'server_error',
  'malformed',
  'auth',
  'not_found',
  'rejected',
  'bad_request',
] as const;
export type FailureKind = (typeof failureKinds)[number];

/** What a `bad_request` says about the input, for the caller's 422 (never the provider's own words). */
export const inputRefusals = ['invalid_input', 'too_large', 'content_blocked'] as const;
export type InputRefusal = (typeof inputRefusals)[number];

const brand = Symbol.for('clinical-gateway.provider-call-error');

/** A provider call failed. `message` is ours and safe to log; the provider's raw text is never kept. */
export class ProviderCallError extends Error {
  readonly [brand] = true;
  /** For a `bad_request`: what about the input was refused. */
  readonly refusal: InputRefusal | null;
  constructor(
    readonly provider: string,
    readonly failure: FailureKind,
    readonly httpStatus: number | null = null,
    refusal: InputRefusal | null = null,
  ) {
    super(`provider ${provider} failed: ${failure}${httpStatus ? ` (HTTP ${httpStatus})` : ''}`);
    this.refusal = failure === 'bad_request' ? (refusal ?? 'invalid_input') : null;
  }
}
export const isProviderCallError = (e: unknown): e is ProviderCallError =>
  typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[brand] === true;

/** Failure kinds that say something about the provider's health (a refusal of this input does not). */
export const countsAgainstProvider = (kind: FailureKind): boolean => kind !== 'bad_request';

/** Maps an HTTP status from a provider to a failure kind (adapters refine a 400 where the body says more). */
export function failureKindForStatus(status: number): FailureKind {
  if (status === 400 || status === 413) return 'bad_request';
  if (status === 401 || status === 403) return 'auth';
  if (status === 404 || status === 410) return 'not_found';
  if (status === 408) return 'timeout';
  if (status === 429) return 'rate_limited';
  if (status >= 500) return 'server_error';
  return 'rejected';
}

/** The refusal a status stands for, for a `bad_request`. */
export const refusalForStatus = (status: number): InputRefusal =>
  status === 413 ? 'too_large' : 'invalid_input';

/** A `ProviderCallError` for an HTTP status from a provider. */
export const providerStatusError = (provider: string, status: number): ProviderCallError =>
  new ProviderCallError(provider, failureKindForStatus(status), status, refusalForStatus(status));
