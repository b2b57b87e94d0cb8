import { DependencyUnavailableError, UnprocessableError } from '../errors.js';
import { type InferenceStore, toResource } from '../inference/inference.js';
import { inferenceIdFor } from './reviewItem.js';

/**
 * Decision callbacks. A caller may name a `callbackUrl` on an origin its tenant allows (configuration); when
 * the review is decided, the outbox schedules a callback task, Cloud Tasks (locally the local scheduler) calls
 * the review jobs function with our internal OIDC identity, and review jobs POSTs the inference resource to
 * the caller's URL signed as Standard Webhooks says, with the tenant's secret. The signature is made on each
 * attempt (a retry carries a fresh timestamp), and the outside request never carries a credential of ours:
 * the internal token stops at review jobs.
 */

/** The per-tenant allowlist of callback origins. */
export class CallbackOrigins {
  private readonly allowed: ReadonlyMap<string, ReadonlySet<string>>;

  /** `allowed`: tenant → origins in their WHATWG serialisation (config.ts normalises them). */
  constructor(allowed: Readonly<Record<string, readonly string[]>>) {
    this.allowed = new Map(Object.entries(allowed).map(([tenant, origins]) => [tenant, new Set(origins)]));
  }

  allows(tenant: string, url: string): boolean {
    const parsed = URL.parse(url);
    if (!parsed || parsed.username || parsed.password) return false;
    return this.allowed.get(tenant)?.has(parsed.origin) === true;
  }

  /**
   * The URL as it is stored and called: its WHATWG serialisation, so that `HTTPS://EHR.example.org:443/a/../b`
   * is `https://ehr.example.org/b`. `UnprocessableError` (422) unless its origin is allowed for the tenant.
   */
  normalise(tenant: string, url: string): string {
    if (!this.allows(tenant, url)) {
      throw new UnprocessableError('callbackUrl is not on an origin allowed for this tenant', [
        { path: 'callbackUrl', message: 'origin not allowed for this tenant' },
      ]);
    }
    return new URL(url).href;
  }
}

/** A signed POST to a caller's webhook receiver. */
export type WebhookMessage = {
  tenant: string;
  url: string;
  /** Stable across the attempts of one message (`webhook-id`), so receivers can drop duplicates. */
  id: string;
  /** The exact bytes sent and signed. */
  body: string;
};

export interface WebhookSender {
  /**
   * POSTs the message, signed with the tenant's secret at the time of the call, following no redirect.
   * Resolves with the receiver's status; `DependencyUnavailableError` if it could not be reached or the
   * tenant has no secret.
   */
  send(message: WebhookMessage): Promise<number>;
}

export type CallbackOutcome =
  /** The receiver answered 2xx. */
  | 'delivered'
  /** Nothing to send: no such inference, or it names no callback. */
  | 'none'
  /** The URL's origin is no longer allowed for the tenant (configuration changed since the request). */
  | 'refused';

export class CallbackDelivery {
  constructor(
    private readonly deps: {
      inferences: Pick<InferenceStore, 'getInference'>;
      origins: CallbackOrigins;
      sender: WebhookSender;
    },
  ) {}

  /**
   * One attempt at the callback of a decided review: the inference's current resource, exactly what
   * `GET /v1/inferences/{id}` answers. A receiver that answers other than 2xx, or cannot be reached, is
   * `DependencyUnavailableError`, so the task is retried with backoff.
   */
  async deliver(reviewId: string): Promise<CallbackOutcome> {
    const inference = await this.deps.inferences.getInference(inferenceIdFor(reviewId));
    if (!inference?.callbackUrl) return 'none';
    if (!this.deps.origins.allows(inference.tenant, inference.callbackUrl)) return 'refused';
    const status = await this.deps.sender.send({
      tenant: inference.tenant,
      url: inference.callbackUrl,
      id: callbackMessageId(reviewId),
      body: JSON.stringify(toResource(inference)),
    });
    if (status < 200 || status > 299) throw new DependencyUnavailableError('callback receiver', 30);
    return 'delivered';
  }
}

/** One decision, one message: its id is derived from the review item. */
export const callbackMessageId = (reviewId: string): string => `msg_${reviewId}`;
