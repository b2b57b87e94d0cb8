/**
 * What the core needs to know of the routing: each task's ordered provider chain and review rules, and of each
 * provider nothing but its name: what else a provider has (how it is reached, its breaker overrides) is a
 * type parameter, filled in by those who need it. config.ts's schema `satisfies` this shape.
 */

export type RouteStep = { provider: string; model: string; timeoutMs: number };

export type TaskRoute = {
  /** Ordered provider chain: primary first, then fallbacks. */
  chain: RouteStep[];
  /** Outputs scoring below this go to a clinical reviewer. */
  reviewThreshold: number;
  /** How long a reviewer has to decide before the item is escalated. */
  reviewSlaMinutes: number;
};

export type RoutingConfig<P = unknown> = {
  providers: Record<string, P>;
  tasks: Record<string, TaskRoute>;
};

/** What a claim's lease must cover beyond the provider chain: claim, scoring and the completion write. */
export const COMMIT_MARGIN_MS = 5_000;

/**
 * The longest a request on `route` can hold its idempotency claim: every step timing out, then the commit.
 * A claim must outlive it, else a retry takes the key over while the first holder still waits for a model,
 * and the note is sent to a model twice.
 */
export const worstCaseMs = (route: TaskRoute): number =>
  route.chain.reduce((sum, step) => sum + step.timeoutMs, 0) + COMMIT_MARGIN_MS;
