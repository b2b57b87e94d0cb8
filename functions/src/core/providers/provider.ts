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

export const failureKinds = [
  'timeout',
  'rate_limited',
  'server_error',
  'malformed',
  'auth',
  'bad_request',
] as const;
export type FailureKind = (typeof failureKinds)[number];

const brand = Symbol.for('clinical-gateway.provider-call-error');

/** A provider call failed. `message` is ours and safe to log; the provider's raw text is never kept. */
export class ProviderCallError extends Error {
  readonly [brand] = true;
  constructor(
    readonly provider: string,
    readonly failure: FailureKind,
    readonly httpStatus: number | null = null,
  ) {
    super(`provider ${provider} failed: ${failure}${httpStatus ? ` (HTTP ${httpStatus})` : ''}`);
  }
}
export const isProviderCallError = (e: unknown): e is ProviderCallError =>
  typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[brand] === true;

/** Failure kinds that say something about the provider's health (a bad request of ours does not). */
export const countsAgainstProvider = (kind: FailureKind): boolean => kind !== 'bad_request';

/** Maps an HTTP status from a provider to a failure kind. */
export function failureKindForStatus(status: number): FailureKind {
  if (status === 401 || status === 403) return 'auth';
  if (status === 408) return 'timeout';
  if (status === 429) return 'rate_limited';
  if (status >= 500) return 'server_error';
  return 'bad_request';
}
