import type { HttpFunction, Request, Response } from '@google-cloud/functions-framework';
import { traceIdOf } from '../adapters/logging/structuredLog.js';
import type { Authenticator, Principal } from '../core/auth/principal.js';
import { requireRole } from '../core/auth/principal.js';
import type { ReviewService } from '../core/review/reviewService.js';
import { openApiRoute } from './contract/openApiDocument.js';
import {
  reviewDecisionSchema as decisionSchema,
  reviewListQuerySchema as listQuerySchema,
} from './contract/requests.js';
import { sendJson } from './problem.js';
import { parseWith, type Route, requireBodyWithin, requireJson, serveRoutes } from './request.js';

export type ReviewerApiDeps = {
  authenticator: Authenticator;
  reviews: ReviewService;
  maxBodyBytes: number;
  /** True once the function can reach its dependencies. */
  healthy: () => Promise<boolean>;
  onUnexpectedError: (error: unknown, req: Request) => void;
};

type Ctx = { req: Request; res: Response; principal: Principal };

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
      handle: async ({ req, res, principal }, params) => {
        requireRole(principal, 'reviewer');
        sendJson(
          res,
          200,
          await deps.reviews.claim(principal, params.id!, { trace: traceIdOf(req.headers) }),
        );
      },
    },
    {
      method: 'POST',
      path: '/v1/reviews/:id/decision',
      handle: async ({ req, res, principal }, params) => {
        requireRole(principal, 'reviewer');
        requireJson(req);
        requireBodyWithin(req, deps.maxBodyBytes);
        const body = parseWith(decisionSchema, req.body);
        const item = await deps.reviews.decide(principal, params.id!, body, {
          trace: traceIdOf(req.headers),
        });
        sendJson(res, 200, item);
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
    onUnexpectedError: deps.onUnexpectedError,
  });
}
