import {
  createGatewayClient,
  type Me,
  type Problem,
  type ReviewDecisionRequest,
  type ReviewItem,
  type ReviewOverview,
} from '../../client/gatewayClient.js';

/**
 * The reviewer API as the console uses it, through the gateway's typed client (functions/client): every
 * path, parameter, body and answer is typed from the OpenAPI document (`npm run openapi`), so a contract
 * change that the console does not follow fails its type check (`npm run lint`) instead of the page.
 */

export type { Me, ReviewItem };
export type Overview = ReviewOverview;
export type ItemState = ReviewItem['state'];
export type ReasonCode = NonNullable<ReviewDecisionRequest['reasonCode']>;
export type DecisionRequest = ReviewDecisionRequest;

/**
 * Every member of a string union of the contract, as a list in the order the page shows them: a member the
 * contract adds or drops fails the build here rather than going missing from a menu.
 */
const everyOf =
  <U extends string>() =>
  <const T extends readonly U[]>(values: T & ([U] extends [T[number]] ? unknown : never)): T =>
    values;

export const itemStates = everyOf<ItemState>()(['pending', 'claimed', 'approved', 'edited', 'rejected']);
export const reasonCodes = everyOf<ReasonCode>()(['incorrect', 'incomplete', 'unsafe', 'other']);

/** An answer other than 2xx, with the problem document's detail when there is one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    readonly fieldErrors: NonNullable<Problem['errors']> = [],
  ) {
    super(`${status} ${title}: ${detail}`);
  }
}

/** The data of a 2xx answer; anything else thrown as an ApiError. */
async function answer<D>(
  call: Promise<{ data?: D; error?: unknown; response: Response }>,
): Promise<NonNullable<D>> {
  const { data, error, response } = await call;
  if (response.ok && data !== undefined && data !== null) return data;
  // Not necessarily the gateway's problem document: a proxy in front of it may answer in its own words.
  const problem = (error && typeof error === 'object' ? error : {}) as Partial<Problem>;
  throw new ApiError(
    response.status,
    typeof problem.title === 'string' ? problem.title : response.statusText,
    typeof problem.detail === 'string' ? problem.detail : 'the request failed',
    Array.isArray(problem.errors) ? problem.errors : [],
  );
}

export type Credentials = { token: string | null };

export class ReviewerApi {
  private readonly client;

  constructor(credentials: () => Credentials) {
    this.client = createGatewayClient({
      // The page is served by the reviewer function itself: its API is on the same origin.
      baseUrl: location.origin,
      // Behind IAP there is no token: the proxy's signed header authenticates every request.
      token: () => credentials().token,
      init: { credentials: 'same-origin', cache: 'no-store' },
    });
  }

  me(): Promise<Me> {
    return answer(this.client.GET('/v1/me'));
  }

  async list(state: ItemState, limit = 200): Promise<ReviewItem[]> {
    return (await answer(this.client.GET('/v1/reviews', { params: { query: { state, limit } } }))).items;
  }

  claim(id: string): Promise<ReviewItem> {
    return answer(this.client.POST('/v1/reviews/{id}/claim', { params: { path: { id } } }));
  }

  decide(id: string, decision: DecisionRequest): Promise<ReviewItem> {
    return answer(
      this.client.POST('/v1/reviews/{id}/decision', { params: { path: { id } }, body: decision }),
    );
  }

  overview(): Promise<Overview> {
    return answer(this.client.GET('/v1/admin/overview'));
  }
}
