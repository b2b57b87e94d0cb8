/**
 * The gateway's one family of typed errors. Core code throws these; `http/problem.ts` is the one place that
 * maps them to HTTP answers, with a table keyed by `ErrorKind` that must name every kind. Messages are safe
 * to show a caller: never clinical text, never a provider's raw error, never a raw idempotency key.
 */

import type { BreakerStateKind } from './breakers/breakerState.js';
import type { InputRefusal } from './providers/provider.js';

export type FieldProblem = { path: string; message: string };

const brand = Symbol.for('clinical-gateway.error');

export abstract class GatewayError extends Error {
  readonly [brand] = true;
  abstract readonly kind: ErrorKind;
}

/** Every concrete error; a class left out of this union cannot compile (its `kind` is no `ErrorKind`). */
export type KnownGatewayError =
  | ValidationError
  | UnauthenticatedError
  | ForbiddenError
  | NotFoundError
  | MethodNotAllowedError
  | PayloadTooLargeError
  | UnsupportedMediaTypeError
  | RequestInProgressError
  | IdempotencyKeyReusedError
  | UnprocessableError
  | StateConflictError
  | ProvidersUnavailableError
  | InputRefusedError
  | DependencyUnavailableError
  | OverloadedError
  | LeaseLostError;
export type ErrorKind = KnownGatewayError['kind'];
export type GatewayErrorOf<K extends ErrorKind> = Extract<KnownGatewayError, { kind: K }>;

/**
 * The one guard: whether `e` is one of ours (branded, so it survives a second copy of this module), and
 * with `kind`, whether it is of that kind.
 */
export function isGatewayError(e: unknown): e is KnownGatewayError;
export function isGatewayError<K extends ErrorKind>(e: unknown, kind: K): e is GatewayErrorOf<K>;
export function isGatewayError(e: unknown, kind?: ErrorKind): boolean {
  if (typeof e !== 'object' || e === null || (e as Record<symbol, unknown>)[brand] !== true) return false;
  return kind === undefined || (e as GatewayError).kind === kind;
}

/**
 * A failure of a dependency (a store, a queue, a key server) as the one retryable error; the gateway's own
 * errors, which a store may pass through (a rule that refused inside a transaction), stay as they are.
 */
export const asDependencyFailure = (dependency: string, e: unknown): KnownGatewayError =>
  isGatewayError(e) ? e : new DependencyUnavailableError(dependency, undefined, { cause: e });

/** Runs `op`; a failure becomes `asDependencyFailure(dependency, …)`. */
export async function orUnavailable<T>(dependency: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (e) {
    throw asDependencyFailure(dependency, e);
  }
}

/** An error about the request's content that can name the fields at fault (`errors` in the problem). */
abstract class FieldsError extends GatewayError {
  constructor(
    message: string,
    readonly errors: FieldProblem[] = [],
  ) {
    super(message);
  }
}

export class ValidationError extends FieldsError {
  readonly kind = 'validation';
}

export class UnauthenticatedError extends GatewayError {
  readonly kind = 'unauthenticated';
}

export class ForbiddenError extends GatewayError {
  readonly kind = 'forbidden';
}

export class NotFoundError extends GatewayError {
  readonly kind = 'not_found';
}

export class MethodNotAllowedError extends GatewayError {
  readonly kind = 'method_not_allowed';
  constructor(readonly allow: string[]) {
    super(`this resource supports ${allow.join(', ')}`);
  }
}

export class PayloadTooLargeError extends GatewayError {
  readonly kind = 'payload_too_large';
}

export class UnsupportedMediaTypeError extends GatewayError {
  readonly kind = 'unsupported_media_type';
}

/** Another request with the same idempotency key holds a live claim. */
export class RequestInProgressError extends GatewayError {
  readonly kind = 'in_progress';
  constructor(readonly retryAfterSeconds: number) {
    super('a request with this Idempotency-Key is still in progress; retry after the indicated delay');
  }
}

/** The key was used before with a different request. */
export class IdempotencyKeyReusedError extends GatewayError {
  readonly kind = 'key_reused';
  constructor() {
    super('this Idempotency-Key was already used with a different request; use a new key');
  }
}

/** A well-formed request the domain cannot accept, e.g. an edited output that fails the task schema. */
export class UnprocessableError extends FieldsError {
  readonly kind = 'unprocessable';
}

/** The resource is in a state that does not allow the action (e.g. a review claimed by someone else). */
export class StateConflictError extends GatewayError {
  readonly kind = 'state_conflict';
}

/** Every provider in the task's chain is open or failing. Retryable. */
export class ProvidersUnavailableError extends GatewayError {
  readonly kind = 'providers_unavailable';
  constructor(
    readonly retryAfterSeconds: number,
    readonly attempts: readonly ProviderAttempt[] = [],
  ) {
    super('no AI provider is available for this task right now; retry after the indicated delay');
  }
}

const refusalWords: Record<InputRefusal, string> = {
  too_large: 'the input is too long for the model',
  content_blocked: 'a content filter blocked the input',
  invalid_input: 'the provider judged the request invalid for this input',
};

/**
 * Every provider in the task's chain was asked and refused this very input (a 400 about the request, a
 * content filter, a context length). Not retryable: the same request is refused again, so it answers 422
 * naming the cause (never the input, never a provider's words), and the idempotency key is released so a
 * corrected request may use it.
 */
export class InputRefusedError extends GatewayError {
  readonly kind = 'input_refused';
  constructor(
    readonly refusals: readonly InputRefusal[],
    readonly attempts: readonly ProviderAttempt[] = [],
  ) {
    const causes = [...new Set(refusals)].map((r) => refusalWords[r]);
    super(
      `every AI provider for this task refused this input (${causes.join('; ')}); ` +
        'retrying the same request will not help: change the input',
    );
  }
}

/** A dependency of ours (Firestore, Pub/Sub) failed or timed out. Retryable. */
export class DependencyUnavailableError extends GatewayError {
  readonly kind = 'dependency_unavailable';
  constructor(
    readonly dependency: string,
    readonly retryAfterSeconds = 2,
    options?: { cause?: unknown },
  ) {
    super(
      `a dependency of the gateway (${dependency}) is unavailable; retry after the indicated delay`,
      options,
    );
  }
}

/**
 * This instance is over its capacity (requests in flight at the configured concurrency, or its event loop
 * lagging): it refuses at once rather than queue the request until the caller times out. Retryable; nothing
 * was claimed.
 */
export class OverloadedError extends GatewayError {
  readonly kind = 'overloaded';
  constructor(readonly retryAfterSeconds = 1) {
    super('this gateway instance is at capacity; nothing was started, retry after the indicated delay');
  }
}

/**
 * The holder of an idempotency claim lost it (its lease expired and another request took the key over), so
 * its late completion was refused.
 */
export class LeaseLostError extends GatewayError {
  readonly kind = 'lease_lost';
  constructor() {
    super('the claim on this Idempotency-Key was taken over by a newer request; retry to get its answer');
  }
}

/** One provider call as the router saw it; carried for audit and for the 503 decision. */
export type ProviderAttempt = {
  provider: string;
  model: string;
  breakerState: BreakerStateKind;
  outcome: 'success' | 'skipped_open' | 'failure';
  failureKind?: string;
  latencyMs: number;
};
