import type { ServerResponse } from 'node:http';
import { type ErrorKind, type FieldProblem, type GatewayErrorOf, isGatewayError } from '../core/errors.js';

/**
 * RFC 9457 problem documents: the one place where errors become HTTP answers. Nothing from an error's cause
 * (stack, provider text, clinical content) ever reaches the body.
 */

export type Problem = {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: FieldProblem[];
};

export const typeUri = (slug: string) => `tag:clinical-ai-gateway,2026:problems/${slug}`;

type Headers = Record<string, string>;

/**
 * How one kind of error is answered. `retryable` is required exactly for the kinds whose error carries
 * `retryAfterSeconds`, and sends it as `Retry-After`; `headers` adds what else the kind's answer needs.
 */
type ProblemType<K extends ErrorKind> = {
  status: number;
  title: string;
  slug: string;
  headers?: (error: GatewayErrorOf<K>) => Headers;
} & (GatewayErrorOf<K> extends { retryAfterSeconds: number } ? { retryable: true } : { retryable?: never });

/** Every error kind's answer: a kind missing here, or one that is not a kind, does not compile. */
export const problemTypes = {
  validation: { status: 400, title: 'Invalid request', slug: 'invalid-request' },
  unauthenticated: {
    status: 401,
    title: 'Authentication required',
    slug: 'unauthenticated',
    headers: () => ({ 'WWW-Authenticate': 'Bearer' }),
  },
  forbidden: { status: 403, title: 'Forbidden', slug: 'forbidden' },
  not_found: { status: 404, title: 'Not found', slug: 'not-found' },
  method_not_allowed: {
    status: 405,
    title: 'Method not allowed',
    slug: 'method-not-allowed',
    headers: (error) => ({ Allow: error.allow.join(', ') }),
  },
  in_progress: { status: 409, title: 'Request in progress', slug: 'request-in-progress', retryable: true },
  state_conflict: { status: 409, title: 'Conflict', slug: 'conflict' },
  // Never answered as such (the service turns it into `in_progress`); mapped like it should one slip through.
  lease_lost: { status: 409, title: 'Request in progress', slug: 'request-in-progress' },
  payload_too_large: { status: 413, title: 'Payload too large', slug: 'payload-too-large' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type', slug: 'unsupported-media-type' },
  key_reused: { status: 422, title: 'Idempotency-Key reused', slug: 'idempotency-key-reused' },
  unprocessable: { status: 422, title: 'Unprocessable content', slug: 'unprocessable' },
  input_refused: { status: 422, title: 'Input refused by the AI providers', slug: 'input-refused' },
  providers_unavailable: {
    status: 503,
    title: 'AI providers unavailable',
    slug: 'providers-unavailable',
    retryable: true,
  },
  dependency_unavailable: {
    status: 503,
    title: 'Service unavailable',
    slug: 'dependency-unavailable',
    retryable: true,
  },
  overloaded: { status: 503, title: 'Over capacity', slug: 'overloaded', retryable: true },
} as const satisfies { [K in ErrorKind]: ProblemType<K> };

/** Anything that is not a `GatewayError`: a bug or an unexpected failure, never described to the caller. */
export const internalProblem = { status: 500, title: 'Internal error', slug: 'internal' } as const;

export function problemFor(error: unknown): { problem: Problem; headers: Headers } {
  if (!isGatewayError(error)) {
    return {
      problem: {
        type: typeUri(internalProblem.slug),
        title: internalProblem.title,
        status: internalProblem.status,
        detail: 'the gateway failed to handle this request; it was not completed and may be retried',
      },
      headers: {},
    };
  }
  // The table's type ties each kind's `headers` to that kind's error, and `error.kind` picked the entry.
  const m: {
    status: number;
    title: string;
    slug: string;
    retryable?: boolean;
    headers?: (e: never) => Headers;
  } = problemTypes[error.kind];
  const problem: Problem = { type: typeUri(m.slug), title: m.title, status: m.status, detail: error.message };
  if ('errors' in error && error.errors.length > 0) problem.errors = error.errors;
  const headers: Headers = {};
  if (m.retryable && 'retryAfterSeconds' in error) headers['Retry-After'] = String(error.retryAfterSeconds);
  Object.assign(headers, m.headers?.(error as never));
  return { problem, headers };
}

/**
 * Answers `error` as a problem document: the one writer, for our handlers (an Express response) and for
 * the framework's own failures (a bare Node response, http/frameworkErrors.ts). After a complete answer there
 * is nothing to say; once headers of an unfinished one are out, the connection is cut so that the caller
 * sees a failure rather than a short body.
 */
export function sendProblem(res: ServerResponse, error: unknown): void {
  if (res.writableEnded) return;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const { problem, headers } = problemFor(error);
  answer(res, problem.status, headers, 'application/problem+json', JSON.stringify(problem));
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Headers = {}): void {
  answer(res, status, headers, 'application/json', typeof body === 'string' ? body : JSON.stringify(body));
}

/** Every API answer is computed per request and per caller: never stored by a cache. */
function answer(res: ServerResponse, status: number, headers: Headers, type: string, body: string): void {
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.setHeader('Content-Type', type);
  res.setHeader('Cache-Control', 'no-store');
  res.end(body);
}
