import createClient, { type Client } from 'openapi-fetch';
import type { components, paths } from './schema.js';

/**
 * A typed client of the gateway, generated from its OpenAPI document: `schema.d.ts` is written by
 * `npm run openapi` (openapi-typescript) and `openapi-fetch` turns it into a fetch wrapper in which every
 * path, parameter, body and answer is typed. docs/api.md shows it in use; it is run against the real
 * functions by test/integration/gatewayClient.test.ts (a clinical app and a reviewer, from Node) and by the
 * reviewer console (functions/console/src/api.ts, in Chromium: test/browser/console.test.ts).
 */

export type Inference = components['schemas']['Inference'];
export type InferenceRequest = components['schemas']['InferenceRequest'];
export type ReviewItem = components['schemas']['ReviewItem'];
export type ReviewDecisionRequest = components['schemas']['ReviewDecisionRequest'];
export type Me = components['schemas']['Me'];
export type ReviewOverview = components['schemas']['ReviewOverview'];
export type Problem = components['schemas']['Problem'];
export type GatewayPaths = paths;

export type GatewayClientOptions = {
  /** The function's URL: the inference API for `/v1/inferences…`, the reviewer API for `/v1/reviews…`. */
  baseUrl: string;
  /**
   * The bearer token for each request: a Google ID token for the function's URL (google-auth-library's
   * `getIdTokenClient(url)`), or locally `dev:<tenant>:<role>:<subject>`. Called per request, so an
   * expiring token can be refreshed. `null` sends no `Authorization` header: behind Identity-Aware Proxy the
   * proxy's signed header authenticates the request instead.
   */
  token: () => string | null | Promise<string | null>;
  fetch?: typeof fetch;
  /** Applied to every request, e.g. `{ cache: 'no-store' }` in a browser. */
  init?: Pick<RequestInit, 'cache' | 'credentials'>;
};

export function createGatewayClient(options: GatewayClientOptions): Client<paths> {
  const client = createClient<paths>({
    baseUrl: options.baseUrl,
    ...options.init,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  client.use({
    async onRequest({ request }) {
      const token = await options.token();
      if (token !== null) request.headers.set('Authorization', `Bearer ${token}`);
      return request;
    },
  });
  return client;
}
