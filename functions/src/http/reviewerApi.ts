import type { HttpFunction } from '@google-cloud/functions-framework';
import { IAP_ASSERTION_HEADER } from '../adapters/auth/iapJwtAuthenticator.js';
import type { StructuredLogger } from '../adapters/logging/structuredLog.js';
import type { Authenticator, Principal } from '../core/auth/principal.js';
import { requireRole } from '../core/auth/principal.js';
import { NotFoundError } from '../core/errors.js';
import { reviewIdPattern } from '../core/review/reviewItem.js';
import type { ReviewOverviewService } from '../core/review/reviewOverview.js';
import type { ReviewService } from '../core/review/reviewService.js';
import { isConsolePath, loadConsoleAssets, serveConsole } from './consoleAssets.js';
import { openApiRoute } from './contract/openApiDocument.js';
import {
  reviewDecisionSchema as decisionSchema,
  reviewListQuerySchema as listQuerySchema,
} from './contract/requests.js';
import { sendJson } from './problem.js';
import {
  parseWith,
  type RequestScope,
  type Route,
  requireBodyWithin,
  requireJson,
  serveRoutes,
} from './request.js';

export type ReviewerApiDeps = {
  authenticator: Authenticator;
  reviews: ReviewService;
  maxBodyBytes: number;
  /** True once the function can reach its dependencies. */
  healthy: () => Promise<boolean>;
  /** The function's logger: each request's lines carry its trace (the one its audit events carry). */
  logger: StructuredLogger;
  /**
   * Behind Identity-Aware Proxy: verifies `x-goog-iap-jwt-assertion` when a request carries it (the reviewer
   * console's requests); requests without it authenticate with their bearer token as before.
   */
  iap?: { authenticate(assertion: string | undefined): Promise<Principal> };
  /** The admin view's read-only figures (`GET /v1/admin/overview`). */
  overview?: Pick<ReviewOverviewService, 'overview'>;
  /** Where the built reviewer console is (served under `/console/`); none: no console. */
  consoleDir?: string;
};

type Ctx = RequestScope & { principal: Principal };

/** The reviewer API (role `reviewer`): the review queue, claims and decisions. */
export function createReviewerApi(deps: ReviewerApiDeps): HttpFunction {
  const routes: Route<Ctx>[] = [
    {
      method: 'GET',
      path: '/v1/reviews',
      handle: async ({ req, res, principal }) => {
        requireRole(principal, 'reviewer');
        const query = parseWith(listQuerySchema, req.query, 'query');
        sendJson(res, 200, { items: await deps.reviews.list(principal, query) });
      },
    },
    {
      method: 'POST',
      path: '/v1/reviews/:id/claim',
      params: { id: reviewIdPattern },
      handle: async ({ res, log, principal }, params) => {
        requireRole(principal, 'reviewer');
        sendJson(res, 200, await deps.reviews.claim(principal, params.id!, { trace: log.traceId }));
      },
    },
    {
      method: 'POST',
      path: '/v1/reviews/:id/decision',
      params: { id: reviewIdPattern },
      handle: async ({ req, res, log, principal }, params) => {
        requireRole(principal, 'reviewer');
        requireJson(req);
        requireBodyWithin(req, deps.maxBodyBytes);
        const body = parseWith(decisionSchema, req.body);
        const item = await deps.reviews.decide(principal, params.id!, body, { trace: log.traceId });
        sendJson(res, 200, item);
      },
    },
    {
      // Who the console is signed in as (behind IAP it has no token of its own to read this from).
      method: 'GET',
      path: '/v1/me',
      handle: async ({ res, principal }) => {
        sendJson(res, 200, { subject: principal.subject, tenant: principal.tenant, roles: principal.roles });
      },
    },
    {
      method: 'GET',
      path: '/v1/admin/overview',
      handle: async ({ res, principal }) => {
        requireRole(principal, 'admin');
        if (!deps.overview) throw new NotFoundError('no such resource');
        sendJson(res, 200, await deps.overview.overview(principal));
      },
    },
  ];

  const api = serveRoutes({
    routes,
    publicRoutes: [openApiRoute],
    authenticate: async (req) => {
      const assertion = req.headers[IAP_ASSERTION_HEADER];
      if (deps.iap && assertion !== undefined) {
        return { principal: await deps.iap.authenticate(Array.isArray(assertion) ? undefined : assertion) };
      }
      return { principal: await deps.authenticator.authenticate(req.headers.authorization) };
    },
    healthy: deps.healthy,
    logger: deps.logger,
  });
  if (deps.consoleDir === undefined) return api;
  const consolePages = serveConsole(loadConsoleAssets(deps.consoleDir));
  return (req, res) => (isConsolePath(req.path) ? consolePages(req, res) : api(req, res));
}
