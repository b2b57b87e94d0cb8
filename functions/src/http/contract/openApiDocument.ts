import type { Response } from '@google-cloud/functions-framework';
import { z } from 'zod';
import {
  createDocument,
  type ZodOpenApiObject,
  type ZodOpenApiOperationObject,
  type ZodOpenApiResponseObject,
} from 'zod-openapi';
import { internalProblem, problemTypes, sendJson, typeUri } from '../problem.js';
import type { Route } from '../request.js';
import { examples } from './examples.js';
import {
  createInferenceRequestSchema,
  idempotencyKeyPattern,
  reviewDecisionSchema,
  reviewListQuerySchema,
} from './requests.js';
import {
  fieldProblemSchema,
  healthSchema,
  inferenceIdSchema,
  inferenceSchema,
  meSchema,
  providerListSchema,
  reviewIdSchema,
  reviewItemSchema,
  reviewListSchema,
  reviewOverviewSchema,
} from './resources.js';

/**
 * The OpenAPI 3.1 document of the inference and reviewer APIs, generated from the zod schemas the handlers
 * validate with (requests.ts) and the response schemas (resources.ts). Served at `GET /openapi.json` by both
 * functions; `npm run openapi` writes it to a file. `../shared/API.md` is the prose form of the same contract;
 * test/unit/openApiDocument.test.ts checks that the two agree where it matters most.
 */

/** Bumped with every change a client could notice. */
export const CONTRACT_VERSION = '1.2.0';

/** Which function serves a path: each runs at its own URL. */
export const apis = {
  inference: {
    url: '{inferenceApiUrl}',
    variables: {
      inferenceApiUrl: {
        default: 'http://localhost:8080',
        description: 'The inference function: `terraform output inference_api_url`, locally port 8080.',
      },
    },
  },
  reviewer: {
    url: '{reviewerApiUrl}',
    variables: {
      reviewerApiUrl: {
        default: 'http://localhost:8081',
        description: 'The reviewer function: `terraform output reviewer_api_url`, locally port 8081.',
      },
    },
  },
} as const;
export type ApiName = keyof typeof apis;

// ---- problems -------------------------------------------------------------------------------------------

const catalogue: readonly { status: number; slug: string }[] = [
  ...Object.values(problemTypes),
  internalProblem,
];

const problemSchema = z
  .strictObject({
    type: z.enum([...new Set(catalogue.map((m) => typeUri(m.slug)))]).meta({
      description: 'Identifies the problem; the types each status can carry are listed with the status.',
    }),
    title: z.string(),
    status: z.int().min(400).max(599),
    detail: z.string().meta({ description: 'For people; never clinical text, never a provider error.' }),
    errors: z
      .array(fieldProblemSchema)
      .min(1)
      .optional()
      .meta({ description: 'Field problems, for validation failures.' }),
  })
  .meta({ id: 'Problem', description: 'An RFC 9457 problem document.' });

const seconds = z
  .string()
  .regex(/^[0-9]+$/)
  .meta({ description: 'Seconds to wait before retrying.', example: '2' });

const header = {
  retryAfter: seconds,
  wwwAuthenticate: z.string().meta({ description: 'The scheme to authenticate with.', example: 'Bearer' }),
  location: z
    .string()
    .regex(/^\/v1\/inferences\/inf_[A-Za-z0-9_-]{1,128}$/)
    .meta({ description: 'Where to poll the inference.' }),
  replayed: z.enum(['true']).meta({
    description:
      'Present on a replay: the answer of an earlier request with the same key (see the operation).',
  }),
};

/**
 * A problem answer of `status`. Its `type` is one of the types that status carries (all of them unless
 * `slugs` narrows the list), so a new error kind in problem.ts appears here without an edit.
 */
function problem(
  status: number,
  description: string,
  options: { slugs?: string[]; headers?: Record<string, z.ZodType> } = {},
): ZodOpenApiResponseObject {
  const ofStatus = catalogue.filter((m) => m.status === status);
  const slugs = [...new Set(ofStatus.map((m) => m.slug))].filter(
    (slug) => options.slugs?.includes(slug) ?? true,
  );
  if (slugs.length === 0 || (options.slugs && slugs.length !== options.slugs.length)) {
    throw new Error(`no problem type ${options.slugs?.join(', ') ?? ''} with status ${status}`);
  }
  const types = slugs.map(typeUri);
  return {
    description: `${description}\n\nProblem types: ${types.map((t) => `\`${t}\``).join(', ')}.`,
    ...(options.headers ? { headers: z.object(options.headers) } : {}),
    content: {
      'application/problem+json': {
        schema: {
          allOf: [
            { $ref: '#/components/schemas/Problem' },
            { type: 'object', properties: { type: { enum: types }, status: { const: status } } },
          ],
        },
      },
    },
  };
}

const unauthenticated = problem(401, 'The bearer token is missing or invalid.', {
  headers: { 'WWW-Authenticate': header.wwwAuthenticate },
});
const forbidden = problem(403, 'The token is valid but the principal lacks the role this operation needs.');
const internalError = problem(500, 'The gateway failed unexpectedly; the request was not completed.');
const unavailable = (description: string) =>
  problem(503, description, { headers: { 'Retry-After': header.retryAfter } });
const dependencyUnavailable = unavailable(
  'A dependency of the gateway is unavailable, or the instance is over capacity and sheds the request.',
);
const tooLarge = problem(413, 'The body is over the limit (256 KiB).');
const notJson = problem(415, 'The body is not `application/json`.');

type Examples = Record<string, { summary: string; value: unknown }>;

const json = (schema: z.ZodType, examples?: Examples) => ({
  'application/json': { schema, ...(examples ? { examples } : {}) },
});

const secured = [{ googleIdToken: [] }];
/** The reviewer function also takes Identity-Aware Proxy's signed header (the console, deployed). */
const reviewerSecured: Record<string, string[]>[] = [{ googleIdToken: [] }, { iapAssertion: [] }];

// ---- operations -----------------------------------------------------------------------------------------

const inferenceRequest = createInferenceRequestSchema({ allowHttpLoopbackCallbacks: false });

const createInference: ZodOpenApiOperationObject = {
  operationId: 'createInference',
  tags: ['Inferences'],
  summary: 'Run a clinical task, once per idempotency key',
  description:
    'Role `clinician`. Replays: the same key with the same request, after the first has finished, answers ' +
    "the first response's status code and body again with `Idempotent-Replayed: true`, and never calls a " +
    'model. Once a reviewer has decided on that inference, a replay answers the first status code with the ' +
    "inference's current representation. Answers other than 200 and 202 are not stored: the key stays free " +
    'for a corrected retry. A key is kept at least 24 hours.',
  security: secured,
  requestParams: {
    header: z.object({
      'Idempotency-Key': z
        .string()
        .regex(idempotencyKeyPattern)
        .meta({
          description:
            'Client-generated, scoped to the tenant: 1 to 255 visible ASCII characters. Sent as a ' +
            'structured-field string (`"abc"`, as the IETF draft writes it) it is the same key as `abc`.',
          example: '4f9c2d6e-3b1a-4c8e-9d2f-7a6b5c4d3e2f',
        }),
    }),
  },
  requestBody: {
    required: true,
    content: json(inferenceRequest, examples.inferenceRequest),
  },
  responses: {
    '200': {
      description:
        "Confidence at or above the task's review threshold: `status: completed`. A share of these is also " +
        'sampled for quality review: then `review.state` is `pending`, and a later edit changes `output`, a ' +
        'reject withdraws it (`status: rejected`, `output: null`).',
      headers: z.object({ 'Idempotent-Replayed': header.replayed.optional() }),
      content: json(inferenceSchema, examples.inferenceCompleted),
    },
    '202': {
      description:
        'Confidence below the threshold: `status: pending_review`, `output: null` until a reviewer decides.',
      headers: z.object({
        Location: header.location,
        'Retry-After': header.retryAfter,
        'Idempotent-Replayed': header.replayed.optional(),
      }),
      content: json(inferenceSchema, examples.inferencePending),
    },
    '400': problem(
      400,
      'A missing or malformed `Idempotency-Key`, invalid JSON, or a body that fails validation.',
    ),
    '401': unauthenticated,
    '403': forbidden,
    '409': problem(409, 'A request with the same key is still in progress.', {
      slugs: ['request-in-progress'],
      headers: { 'Retry-After': header.retryAfter },
    }),
    '413': tooLarge,
    '415': notJson,
    '422': problem(
      422,
      'The key was already used with a different request (method, path or body differ), or `callbackUrl` is ' +
        'not on an origin allowed for the tenant.',
    ),
    '500': internalError,
    '503': unavailable(
      'Every provider is failing or its breaker is open, a dependency is unavailable, or the instance is over ' +
        'capacity and sheds the request. The key is released (or was never claimed): a retry with the same ' +
        'key runs anew.',
    ),
  },
};

const getInference: ZodOpenApiOperationObject = {
  operationId: 'getInference',
  tags: ['Inferences'],
  summary: 'The current inference resource',
  description: "Role `clinician`. Another tenant's inference, an unknown or a malformed id answer 404.",
  security: secured,
  requestParams: { path: z.object({ id: inferenceIdSchema }) },
  responses: {
    '200': {
      description: 'The inference as it is now.',
      content: json(inferenceSchema, examples.inferenceReviewed),
    },
    '401': unauthenticated,
    '403': forbidden,
    '404': problem(404, 'No such inference for this tenant.'),
    '500': internalError,
    '503': dependencyUnavailable,
  },
};

const listProviders: ZodOpenApiOperationObject = {
  operationId: 'listProviders',
  tags: ['Operations'],
  summary: 'Provider circuit breakers',
  description: 'Role `admin`.',
  security: secured,
  responses: {
    '200': { description: 'Every provider and its breaker.', content: json(providerListSchema) },
    '401': unauthenticated,
    '403': forbidden,
    '500': internalError,
    '503': dependencyUnavailable,
  },
};

const reviewPath = { path: z.object({ id: reviewIdSchema }) };

const listReviews: ZodOpenApiOperationObject = {
  operationId: 'listReviews',
  tags: ['Reviews'],
  summary: 'The review queue',
  description: "Role `reviewer`. The tenant's review items, oldest first.",
  security: reviewerSecured,
  requestParams: { query: reviewListQuerySchema },
  responses: {
    '200': { description: 'The items.', content: json(reviewListSchema, examples.reviewList) },
    '400': problem(400, 'An unknown `state` or a `limit` outside 1 to 200.'),
    '401': unauthenticated,
    '403': forbidden,
    '500': internalError,
    '503': dependencyUnavailable,
  },
};

const claimReview: ZodOpenApiOperationObject = {
  operationId: 'claimReview',
  tags: ['Reviews'],
  summary: 'Claim a review item for a lease',
  description: 'Role `reviewer`. The lease is a setting (default 10 minutes).',
  security: reviewerSecured,
  requestParams: reviewPath,
  responses: {
    '200': { description: 'The item, now `claimed` by the caller.', content: json(reviewItemSchema) },
    '401': unauthenticated,
    '403': forbidden,
    '404': problem(404, 'No such review item for this tenant.'),
    '409': problem(409, 'Another reviewer holds a live lease, or the item is decided.', {
      slugs: ['conflict'],
    }),
    '500': internalError,
    '503': dependencyUnavailable,
  },
};

const decideReview: ZodOpenApiOperationObject = {
  operationId: 'decideReview',
  tags: ['Reviews'],
  summary: 'Approve, edit or reject a claimed item',
  description:
    'Role `reviewer`, holding a live claim. At once the inference becomes `completed` (approve: the ' +
    'proposal is the output; edit: the edited output) with `review` filled in, or `rejected` (`output: null`); ' +
    'its `callbackUrl`, if any, is POSTed the inference resource (the `inferenceDecided` webhook).',
  security: reviewerSecured,
  requestParams: reviewPath,
  requestBody: { required: true, content: json(reviewDecisionSchema, examples.decisionRequest) },
  responses: {
    '200': { description: 'The decided item.', content: json(reviewItemSchema, examples.reviewItemDecided) },
    '400': problem(400, 'Invalid JSON or a body that fails validation.'),
    '401': unauthenticated,
    '403': forbidden,
    '404': problem(404, 'No such review item for this tenant.'),
    '409': problem(409, 'The caller holds no live claim on the item.', { slugs: ['conflict'] }),
    '413': tooLarge,
    '415': notJson,
    '422': problem(
      422,
      "An edited `output` does not fit the task's output schema, or a required field (`output` for edit, " +
        '`reasonCode` for edit and reject) is missing.',
      { slugs: ['unprocessable'] },
    ),
    '500': internalError,
    '503': dependencyUnavailable,
  },
};

const getMe: ZodOpenApiOperationObject = {
  operationId: 'getMe',
  tags: ['Reviews'],
  summary: 'Who the caller is',
  description:
    'Any role. The subject, tenant and roles the gateway mapped the credential to: behind Identity-Aware ' +
    'Proxy the reviewer console holds no token to read them from.',
  security: reviewerSecured,
  responses: {
    '200': { description: 'The caller.', content: json(meSchema, examples.me) },
    '401': unauthenticated,
    '403': problem(403, 'The credential is valid but maps to no tenant (an unknown email).'),
    '500': internalError,
    '503': unavailable('The keys that verify the credential cannot be fetched.'),
  },
};

const getReviewOverview: ZodOpenApiOperationObject = {
  operationId: 'getReviewOverview',
  tags: ['Operations'],
  summary: "The admin view's figures",
  description:
    "Role `admin`. Read-only, for the caller's tenant: the providers' breakers, the health of the review " +
    'queue (depth, oldest item) and how reviewers decided per task and confidence band, counted from at ' +
    'most 2,000 items per section (`truncated` says when there were more).',
  security: reviewerSecured,
  responses: {
    '200': { description: 'The figures.', content: json(reviewOverviewSchema, examples.reviewOverview) },
    '401': unauthenticated,
    '403': forbidden,
    '500': internalError,
    '503': dependencyUnavailable,
  },
};

const health: ZodOpenApiOperationObject = {
  operationId: 'health',
  tags: ['Operations'],
  summary: 'Readiness',
  security: [],
  responses: {
    '200': { description: 'The function reaches its dependencies.', content: json(healthSchema) },
    '503': { description: 'Not (yet) able to reach its dependencies.', content: json(healthSchema) },
  },
};

const openApi: ZodOpenApiOperationObject = {
  operationId: 'openApiDocument',
  tags: ['Operations'],
  summary: 'This document',
  security: [],
  responses: {
    '200': {
      description: 'The OpenAPI document of both APIs.',
      content: {
        'application/json': {
          schema: {
            type: 'object',
            required: ['openapi', 'info', 'paths'],
            properties: { openapi: { const: '3.1.0' }, info: { type: 'object' }, paths: { type: 'object' } },
          },
        },
      },
    },
  },
};

const webhookHeaders = z.object({
  'webhook-id': z.string().meta({ description: 'Unique per event; the same on every retry of it.' }),
  'webhook-timestamp': z
    .string()
    .regex(/^[0-9]+$/)
    .meta({ description: 'Unix seconds of this attempt.' }),
  'webhook-signature': z.string().meta({
    description:
      '`v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}" with the tenant\'s webhook secret>`, ' +
      'space-separated when several secrets are current.',
  }),
});

/** The whole document. Pure: the same code always yields the same document. */
export function buildOpenApiDocument() {
  const spec: ZodOpenApiObject = {
    openapi: '3.1.0',
    info: {
      title: 'Clinical AI inference gateway',
      version: CONTRACT_VERSION,
      summary: 'Idempotent clinical AI inference with human review.',
      description:
        'The inference API (clinical apps) and the reviewer API (clinical reviewers) of the gateway. Each is ' +
        'its own function with its own URL, named by the `servers` of each path. Every error is an RFC 9457 ' +
        'problem document (`application/problem+json`); no error carries a stack trace, a provider error or ' +
        "clinical text. Times are RFC 3339 UTC. A tenant never sees another tenant's data: such an id " +
        'answers 404. An undocumented method on a path answers 405 with `Allow`, an unknown path 404.',
      license: { name: 'Proprietary', identifier: 'LicenseRef-Proprietary' },
    },
    tags: [
      { name: 'Inferences', description: 'The inference API (clinical apps).' },
      { name: 'Reviews', description: 'The reviewer API (clinical reviewers).' },
      { name: 'Operations', description: 'Health, breakers and this document.' },
      { name: 'Callbacks', description: "What the gateway sends to a caller's `callbackUrl`." },
    ],
    servers: [apis.inference, apis.reviewer],
    security: secured,
    paths: {
      '/v1/inferences': { servers: [apis.inference], post: createInference },
      '/v1/inferences/{id}': { servers: [apis.inference], get: getInference },
      '/v1/providers': { servers: [apis.inference], get: listProviders },
      '/v1/reviews': { servers: [apis.reviewer], get: listReviews },
      '/v1/reviews/{id}/claim': { servers: [apis.reviewer], post: claimReview },
      '/v1/reviews/{id}/decision': { servers: [apis.reviewer], post: decideReview },
      '/v1/me': { servers: [apis.reviewer], get: getMe },
      '/v1/admin/overview': { servers: [apis.reviewer], get: getReviewOverview },
      '/healthz': { servers: [apis.inference, apis.reviewer], get: health },
      '/openapi.json': { servers: [apis.inference, apis.reviewer], get: openApi },
    },
    webhooks: {
      inferenceDecided: {
        post: {
          operationId: 'inferenceDecided',
          tags: ['Callbacks'],
          summary: 'A pending review was decided',
          description:
            "POSTed to the inference's `callbackUrl`, signed as Standard Webhooks signs (verify the signature " +
            'and reject a timestamp far from now), retried with backoff until a 2xx. It never carries a ' +
            "credential of the gateway's own.",
          security: [],
          requestParams: { header: webhookHeaders },
          requestBody: { required: true, content: json(inferenceSchema) },
          responses: {
            '200': { description: 'Any 2xx acknowledges the event.' },
            default: { description: 'Anything else (or no answer) is retried.' },
          },
        },
      },
    },
    components: {
      schemas: { Problem: problemSchema },
      securitySchemes: {
        googleIdToken: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description:
            "A Google-signed ID token whose audience is the function's URL and which carries a verified email " +
            '(`gcloud auth print-identity-token --audiences=URL`, or the metadata server for a service). The ' +
            'email maps to a tenant and roles by configuration. Locally only (`npm start`, never in a ' +
            'deployed function) the token is `dev:<tenant>:<role>:<subject>`, e.g. `dev:acme:clinician:alice`.',
        },
        iapAssertion: {
          type: 'apiKey',
          in: 'header',
          name: 'x-goog-iap-jwt-assertion',
          description:
            'Reviewer function only, behind Identity-Aware Proxy: the JWT the proxy signs for the signed-in ' +
            "person (audience: the backend service). Its email maps to a tenant and roles like a token's. A " +
            'request that carries it is authenticated by it alone; a bad one is refused, never passed on to the ' +
            'bearer token. The proxy sets it: a client never sends it itself.',
        },
      },
    },
  };
  return createDocument(spec);
}

export type OpenApiDocument = ReturnType<typeof buildOpenApiDocument>;

let cached: string | undefined;

/** The document as JSON text, built once per instance. */
export function openApiJson(): string {
  cached ??= JSON.stringify(buildOpenApiDocument());
  return cached;
}

/** `GET /openapi.json`: public, holds no data. */
export const openApiRoute: Route<{ res: Response }> = {
  method: 'GET',
  path: '/openapi.json',
  handle: async ({ res }) => sendJson(res, 200, openApiJson()),
};
