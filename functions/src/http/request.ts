import type { HttpFunction, Request, Response } from '@google-cloud/functions-framework';
import { parseItem } from 'structured-headers';
import type { z } from 'zod';
import type { RequestLogger, StructuredLogger } from '../adapters/logging/structuredLog.js';
import {
  type FieldProblem,
  isGatewayError,
  MethodNotAllowedError,
  NotFoundError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '../core/errors.js';
import { sendJson, sendProblem } from './problem.js';

/** An idempotency key: 1 to 255 visible ASCII characters (the contract). */
const idempotencyKeyPattern = /^[\x21-\x7e]{1,255}$/;

/**
 * The `Idempotency-Key` of a request. The IETF draft defines the header as a structured-field string
 * (`Idempotency-Key: "8e03978e-40d5-43e8-bc93-6894a57f9324"`), while many clients send the bare key; both
 * name the same key, so `"abc"` and `abc` are one key. A value that starts with a double quote is read as an
 * sf-string (RFC 8941, by structured-headers) and must be one; its parameters, which the draft defines none
 * of, are ignored as RFC 8941 says. Anything else is the key as sent. Either way the key itself must be 1 to
 * 255 visible ASCII characters, else 400.
 */
export function idempotencyKeyOf(req: Request): string {
  const header = req.headers['idempotency-key'];
  let key: unknown = header;
  if (typeof header === 'string' && header.startsWith('"')) {
    try {
      [key] = parseItem(header);
    } catch {
      key = undefined;
    }
  }
  if (typeof key !== 'string' || !idempotencyKeyPattern.test(key)) {
    throw new ValidationError('Idempotency-Key header is required: 1 to 255 visible ASCII characters', [
      { path: 'header:Idempotency-Key', message: 'missing or malformed' },
    ]);
  }
  return key;
}

/** Requests with a body must say it is JSON. */
export function requireJson(req: Request): void {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new UnsupportedMediaTypeError('the request body must be application/json');
  }
}

export function requireBodyWithin(req: Request, maxBytes: number): void {
  const declared = Number(req.headers['content-length'] ?? 0);
  const actual = req.rawBody?.length ?? 0;
  if (declared > maxBytes || actual > maxBytes) {
    throw new PayloadTooLargeError(`the request body must be at most ${maxBytes} bytes`);
  }
}

/** Validates with zod; failures list every field problem, without echoing the values. */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, what = 'request body'): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new ValidationError(`the ${what} is invalid`, toFieldProblems(result.error));
}

export function toFieldProblems(error: z.ZodError): FieldProblem[] {
  return error.issues.map((issue) => ({
    path: issue.path.length ? issue.path.map(String).join('.') : '(root)',
    message: issue.message,
  }));
}

export type Route<C> = {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** A path pattern such as `/v1/inferences/:id`. */
  path: string;
  /**
   * The pattern each path parameter must match (every `:name` needs one). A value that does not match
   * answers 404 before it reaches a handler, so a malformed id (`inf_a%2Fb`, `__x__`, 1,500 bytes) never
   * becomes a Firestore document path, where it would throw or name a reserved document.
   */
  params?: Readonly<Record<string, RegExp>>;
  handle: (ctx: C, params: Record<string, string>) => Promise<void>;
};

/**
 * Picks the route for a request. A path that exists under another method answers 405 with `Allow`;
 * an unknown path answers 404.
 */
export function matchRoute<C>(routes: readonly Route<C>[], method: string, path: string) {
  const normalised = path.length > 1 ? path.replace(/\/+$/, '') : path;
  const allowed: string[] = [];
  for (const route of routes) {
    const params = matchPath(route.path, normalised);
    if (!params) continue;
    if (route.method === method || (method === 'HEAD' && route.method === 'GET')) {
      if (!paramsWellFormed(route, params)) throw new NotFoundError('no such resource');
      return { route, params };
    }
    allowed.push(route.method);
  }
  if (allowed.length > 0) throw new MethodNotAllowedError(allowed);
  throw new NotFoundError('no such resource');
}

/** A route whose parameter has no pattern would answer 404 to everything: fail at start instead. */
function requirePatterns(route: { path: string; params?: Readonly<Record<string, RegExp>> }): void {
  for (const segment of route.path.split('/')) {
    if (segment.startsWith(':') && !route.params?.[segment.slice(1)]) {
      throw new Error(`route ${route.path}: parameter ${segment} needs a pattern in params`);
    }
  }
}

function paramsWellFormed(
  route: { params?: Readonly<Record<string, RegExp>> },
  params: Record<string, string>,
) {
  return Object.entries(params).every(([name, value]) => route.params?.[name]?.test(value) === true);
}

function matchPath(pattern: string, path: string): Record<string, string> | null {
  const want = pattern.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    const g = got[i]!;
    if (w.startsWith(':')) {
      let value: string;
      try {
        value = decodeURIComponent(g);
      } catch {
        return null;
      }
      if (!value) return null;
      params[w.slice(1)] = value;
    } else if (w !== g) {
      return null;
    }
  }
  return params;
}

/** What every route handler gets besides what authentication adds. */
export type RequestScope = { req: Request; res: Response; log: RequestLogger };

/** The health check's path, which every HTTP function of ours answers, and the load shedder always admits. */
export const HEALTH_PATH = '/healthz';

/**
 * The shape every HTTP function of ours shares: `GET /healthz` answers 200 once dependencies are reachable
 * (503 before) and the public routes (`GET /openapi.json`) answer without credentials; every other request is
 * authenticated first (so an unauthenticated caller learns nothing about which paths exist), then routed; every
 * error becomes a problem document, and only unexpected ones are logged. Each request gets its logger
 * (`log`), which carries the request's trace and, once authenticated, its tenant.
 */
export function serveRoutes<A extends { principal?: { tenant: string } }>(options: {
  routes: readonly Route<RequestScope & A>[];
  /** Routes without parameters that answer before authentication (they must hold no data). */
  publicRoutes?: readonly Route<{ req: Request; res: Response }>[];
  authenticate: (req: Request) => Promise<A>;
  healthy: () => Promise<boolean>;
  logger: StructuredLogger;
}): HttpFunction {
  for (const route of options.routes) requirePatterns(route);
  return async (req, res) => {
    let log: RequestLogger | null = null;
    try {
      if (req.path === HEALTH_PATH) {
        const ok = await options.healthy().catch(() => false);
        sendJson(res, ok ? 200 : 503, { status: ok ? 'ok' : 'unavailable' });
        return;
      }
      const open = options.publicRoutes?.find(
        (route) =>
          route.path === req.path &&
          (route.method === req.method || (req.method === 'HEAD' && route.method === 'GET')),
      );
      if (open) return await open.handle({ req, res }, {});
      log = options.logger.forRequest(req.headers);
      const auth = await options.authenticate(req);
      if (auth.principal) log.tenant = auth.principal.tenant;
      const { route, params } = matchRoute(options.routes, req.method, req.path);
      await route.handle({ req, res, log, ...auth }, params);
    } catch (error) {
      if (!isGatewayError(error)) logUnexpected(log ?? options.logger.forRequest(req.headers), error, req);
      sendProblem(res, error);
    }
  };
}

function logUnexpected(log: RequestLogger, error: unknown, req: Request): void {
  log.error('unexpected error', {
    path: req.path,
    method: req.method,
    // Name and code only: a message may quote data we must not log.
    error: error instanceof Error ? error.name : typeof error,
    code: (error as { code?: unknown } | null)?.code ?? null,
  });
}
