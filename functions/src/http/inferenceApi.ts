import { createHash } from 'node:crypto';
import type { HttpFunction, Request, Response } from '@google-cloud/functions-framework';
import canonicalize from 'canonicalize';
import { z } from 'zod';
import { traceIdOf } from '../adapters/logging/structuredLog.js';
import type { Authenticator, Principal } from '../core/auth/principal.js';
import { requireRole } from '../core/auth/principal.js';
import type { InferenceService } from '../core/inference/inferenceService.js';
import type { CallbackOrigins } from '../core/review/callbacks.js';
import { inferenceIdPattern } from '../core/review/reviewItem.js';
import { taskNames } from '../core/tasks.js';
import { sendJson } from './problem.js';
import {
  idempotencyKeyOf,
  parseWith,
  type Route,
  requireBodyWithin,
  requireJson,
  serveRoutes,
} from './request.js';

/** The contract's limits on a request to `POST /v1/inferences`. */
const MAX_TEXT_CHARS = 100_000;

const wellFormed = (s: string) => s.isWellFormed();
const charCount = (s: string) => [...s].length;

export function createInferenceRequestSchema(options: { allowHttpLoopbackCallbacks: boolean }) {
  const callbackUrl = z
    .string()
    .max(2048)
    .refine((value) => isAllowedCallback(value, options.allowHttpLoopbackCallbacks), {
      message: 'must be an https URL',
    });
  return z.strictObject({
    task: z.enum(taskNames),
    input: z.strictObject({
      text: z
        .string()
        .refine((s) => charCount(s) >= 1, { message: 'must not be empty' })
        .refine((s) => charCount(s) <= MAX_TEXT_CHARS, {
          message: `must be at most ${MAX_TEXT_CHARS} characters`,
        })
        .refine(wellFormed, { message: 'must be well-formed Unicode' }),
    }),
    patientRef: z
      .string()
      .min(1)
      .max(128)
      .refine(wellFormed, { message: 'must be well-formed Unicode' })
      .optional(),
    encounterRef: z
      .string()
      .min(1)
      .max(128)
      .refine(wellFormed, { message: 'must be well-formed Unicode' })
      .optional(),
    callbackUrl: callbackUrl.optional(),
  });
}

function isAllowedCallback(value: string, allowHttpLoopback: boolean): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (url.username || url.password) return false;
  if (url.protocol === 'https:') return true;
  return (
    allowHttpLoopback &&
    url.protocol === 'http:' &&
    ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)
  );
}

/** Method, path and canonical body: what makes two requests "the same" for an idempotency key. */
export function requestFingerprint(method: string, path: string, body: unknown): string {
  return createHash('sha256')
    .update(`${method}\n${path}\n${canonicalize(body) ?? ''}`)
    .digest('hex');
}

export type ProviderStatusSource = { list(): Promise<unknown[]> };

export type InferenceApiDeps = {
  authenticator: Authenticator;
  inferences: InferenceService;
  providers: ProviderStatusSource;
  maxBodyBytes: number;
  allowHttpLoopbackCallbacks: boolean;
  /** The tenant's allowed callback origins; a callbackUrl elsewhere is 422. */
  callbackOrigins: CallbackOrigins;
  /** True once the function can reach its dependencies. */
  healthy: () => Promise<boolean>;
  onUnexpectedError: (error: unknown, req: Request) => void;
};

type Ctx = { req: Request; res: Response; principal: Principal };

export function createInferenceApi(deps: InferenceApiDeps): HttpFunction {
  const requestSchema = createInferenceRequestSchema({
    allowHttpLoopbackCallbacks: deps.allowHttpLoopbackCallbacks,
  });

  const routes: Route<Ctx>[] = [
    {
      method: 'POST',
      path: '/v1/inferences',
      handle: async ({ req, res, principal }) => {
        requireRole(principal, 'clinician');
        requireJson(req);
        requireBodyWithin(req, deps.maxBodyBytes);
        const key = idempotencyKeyOf(req);
        const body = parseWith(requestSchema, req.body);
        if (body.callbackUrl)
          body.callbackUrl = deps.callbackOrigins.normalise(principal.tenant, body.callbackUrl);
        const fingerprint = requestFingerprint('POST', '/v1/inferences', req.body);
        const answer = await deps.inferences.create(principal, key, fingerprint, body, {
          trace: traceIdOf(req.headers),
        });
        const headers: Record<string, string> = {};
        if (answer.status === 202) {
          headers.Location = `/v1/inferences/${answer.inferenceId}`;
          headers['Retry-After'] = '30';
        }
        if (answer.replayed) headers['Idempotent-Replayed'] = 'true';
        sendJson(res, answer.status, answer.body, headers);
      },
    },
    {
      method: 'GET',
      path: '/v1/inferences/:id',
      params: { id: inferenceIdPattern },
      handle: async ({ req, res, principal }, params) => {
        sendJson(
          res,
          200,
          await deps.inferences.get(principal, params.id!, { trace: traceIdOf(req.headers) }),
        );
      },
    },
    {
      method: 'GET',
      path: '/v1/providers',
      handle: async ({ res, principal }) => {
        requireRole(principal, 'admin');
        sendJson(res, 200, { providers: await deps.providers.list() });
      },
    },
  ];

  return serveRoutes({
    routes,
    authenticate: async (req) => ({
      principal: await deps.authenticator.authenticate(req.headers.authorization),
    }),
    healthy: deps.healthy,
    onUnexpectedError: deps.onUnexpectedError,
  });
}
