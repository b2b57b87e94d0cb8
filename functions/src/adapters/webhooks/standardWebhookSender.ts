import { Webhook } from 'standardwebhooks';
import { type Clock, dateClock } from '../../core/clock.js';
import { DependencyUnavailableError } from '../../core/errors.js';
import type { WebhookMessage, WebhookSender } from '../../core/review/callbacks.js';

/**
 * Sends callbacks signed as Standard Webhooks (standardwebhooks.com) signs them, with the official library:
 * `webhook-id`, `webhook-timestamp` (seconds, now) and `webhook-signature` = `v1,<base64 HMAC-SHA256 of
 * "id.timestamp.body">` under the tenant's `whsec_` secret. Receivers verify with any Standard Webhooks
 * library. Redirects are not followed: a receiver that redirects has not received.
 */
export class StandardWebhookSender implements WebhookSender {
  private readonly signers: ReadonlyMap<string, Webhook>;
  private readonly now: () => Date;

  constructor(
    private readonly options: {
      /** `whsec_…` secret per tenant. */
      secrets: Readonly<Record<string, string>>;
      /** How long one call may take (below the task's dispatch deadline). */
      timeoutMs: number;
      clock?: Clock;
      userAgent?: string;
    },
  ) {
    this.signers = new Map(
      Object.entries(options.secrets).map(([tenant, secret]) => [tenant, new Webhook(secret)]),
    );
    this.now = dateClock(options.clock);
  }

  async send(message: WebhookMessage): Promise<number> {
    const signer = this.signers.get(message.tenant);
    // A configuration gap, not the receiver's fault: retried, and never sent unsigned.
    if (!signer) throw new DependencyUnavailableError('webhook secret', 60);
    const timestamp = this.now();
    const headers = {
      'Content-Type': 'application/json',
      'User-Agent': this.options.userAgent ?? 'clinical-ai-gateway-webhooks',
      'webhook-id': message.id,
      'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
      'webhook-signature': signer.sign(message.id, timestamp, message.body),
    };
    try {
      const response = await fetch(message.url, {
        method: 'POST',
        headers,
        body: message.body,
        redirect: 'manual',
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      await response.body?.cancel();
      return response.status;
    } catch (e) {
      throw new DependencyUnavailableError('callback receiver', 30, { cause: e });
    }
  }
}
