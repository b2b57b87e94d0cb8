import type { Response } from '@google-cloud/functions-framework';
import { type FieldProblem, isGatewayError } from '../core/errors.js';

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

type Mapping = { status: number; title: string; slug: string };

export const mappings: Record<string, Mapping> = {
  validation: { status: 400, title: 'Invalid request', slug: 'invalid-request' },
  unauthenticated: { status: 401, title: 'Authentication required', slug: 'unauthenticated' },
  forbidden: { status: 403, title: 'Forbidden', slug: 'forbidden' },
  not_found: { status: 404, title: 'Not found', slug: 'not-found' },
  method_not_allowed: { status: 405, title: 'Method not allowed', slug: 'method-not-allowed' },
  in_progress: { status: 409, title: 'Request in progress', slug: 'request-in-progress' },
  state_conflict: { status: 409, title: 'Conflict', slug: 'conflict' },
  lease_lost: { status: 409, title: 'Request in progress', slug: 'request-in-progress' },
  payload_too_large: { status: 413, title: 'Payload too large', slug: 'payload-too-large' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type', slug: 'unsupported-media-type' },
  key_reused: { status: 422, title: 'Idempotency-Key reused', slug: 'idempotency-key-reused' },
  unprocessable: { status: 422, title: 'Unprocessable content', slug: 'unprocessable' },
  input_refused: { status: 422, title: 'Input refused by the AI providers', slug: 'input-refused' },
  providers_unavailable: { status: 503, title: 'AI providers unavailable', slug: 'providers-unavailable' },
  dependency_unavailable: { status: 503, title: 'Service unavailable', slug: 'dependency-unavailable' },
  overloaded: { status: 503, title: 'Over capacity', slug: 'overloaded' },
};

export function problemFor(error: unknown): { problem: Problem; headers: Record<string, string> } {
  if (!isGatewayError(error)) {
    return {
      problem: {
        type: typeUri('internal'),
        title: 'Internal error',
        status: 500,
        detail: 'the gateway failed to handle this request; it was not completed and may be retried',
      },
      headers: {},
    };
  }
  const m = mappings[error.kind] ?? { status: 500, title: 'Internal error', slug: 'internal' };
  const problem: Problem = { type: typeUri(m.slug), title: m.title, status: m.status, detail: error.message };
  const headers: Record<string, string> = {};
  if ('errors' in error && Array.isArray(error.errors) && error.errors.length > 0)
    problem.errors = error.errors;
  if ('retryAfterSeconds' in error && typeof error.retryAfterSeconds === 'number') {
    headers['Retry-After'] = String(error.retryAfterSeconds);
  }
  if (error.kind === 'unauthenticated') headers['WWW-Authenticate'] = 'Bearer';
  if ('allow' in error && Array.isArray(error.allow)) headers.Allow = error.allow.join(', ');
  return { problem, headers };
}

export function sendProblem(res: Response, error: unknown): void {
  const { problem, headers } = problemFor(error);
  if (res.headersSent) return;
  res.status(problem.status);
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.setHeader('Content-Type', 'application/problem+json');
  res.setHeader('Cache-Control', 'no-store');
  res.end(JSON.stringify(problem));
}

export function sendJson(
  res: Response,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.status(status);
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Cache-Control', 'no-store');
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}
