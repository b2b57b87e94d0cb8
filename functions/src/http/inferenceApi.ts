import { createHash } from 'node:crypto';
import type { HttpFunction } from '@google-cloud/functions-framework';
import canonicalize from 'canonicalize';
import type { StructuredLogger } from '../adapters/logging/structuredLog.js';
import type { Authenticator, Principal } from '../core/auth/principal.js';
import { requireRole } from '../core/auth/principal.js';
import type { InferenceService } from '../core/inference/inferenceService.js';
import type { CallbackOrigins } from '../core/review/callbacks.js';
import { inferenceIdPattern } from '../core/review/reviewItem.js';
import { openApiRoute } from './contract/openApiDocument.js';
import { createInferenceRequestSchema } from './contract/requests.js';
import { sendJson } from './problem.js';
import {
  idempotencyKeyOf,
  parseWith,
  type RequestScope,
  type Route,
  requireBodyWithin,
  requireJson,
  serveRoutes,
} from './request.js';

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
  /** The function's logger: each request's lines carry its trace (the one its audit events carry). */
  logger: StructuredLogger;
};

type Ctx = RequestScope & { principal: Principal };

export function createInferenceApi(deps: InferenceApiDeps): HttpFunction {
  const requestSchema = createInferenceRequestSchema({
    allowHttpLoopbackCallbacks: deps.allowHttpLoopbackCallbacks,
  });

  const routes: Route<Ctx>[] = [
    {
      method: 'POST',
      path: '/v1/inferences',
      handle: async ({ req, res, log, principal }) => {
        requireRole(principal, 'clinician');
        requireJson(req);
        requireBodyWithin(req, deps.maxBodyBytes);
        const key = idempotencyKeyOf(req);
        const body = parseWith(requestSchema, req.body);
        if (body.callbackUrl)
          body.callbackUrl = deps.callbackOrigins.normalise(principal.tenant, body.callbackUrl);
        const fingerprint = requestFingerprint('POST', '/v1/inferences', req.body);
        const answer = await deps.inferences.create(principal, key, fingerprint, body, {
          trace: log.traceId,
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
      handle: async ({ res, log, principal }, params) => {
        sendJson(res, 200, await deps.inferences.get(principal, params.id!, { trace: log.traceId }));
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
    publicRoutes: [openApiRoute],
    authenticate: async (req) => ({
      principal: await deps.authenticator.authenticate(req.headers.authorization),
    }),
    healthy: deps.healthy,
    logger: deps.logger,
  });
}
