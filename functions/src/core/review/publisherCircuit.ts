import { type Clock, systemClock } from '../clock.js';
import { DependencyUnavailableError } from '../errors.js';
import { withTimeout } from '../retry.js';
import type { ReviewEventMessage } from './reviewEvents.js';
import type { EscalationMessage, ReviewPublisher, ReviewRequestMessage } from './reviewPublisher.js';

/**
 * A circuit around the review publisher. Every publish already has a durable outbox entry behind it, so
 * while Pub/Sub fails there is no point in making each answer wait out the publish timeout: the circuit
 * opens on a failure and then refuses at once, and the outbox sweeper delivers later. After `probeAfterMs`
 * one publish is let through as a probe; it closes the circuit or opens it again.
 *
 *   closed ──failureThreshold failures in a row──▶ open ──probeAfterMs passed, one publish──▶ half_open
 *     ▲                                             ▲                                           │
 *     └──────────────── the probe succeeds ─────────┼───────────────────────────────────────────┘
 *                                                   └────────────── the probe fails ────────────┘
 */

export type PublisherCircuitState =
  | { kind: 'closed'; failures: number }
  | { kind: 'open'; since: number }
  | { kind: 'half_open' };

export type PublisherCircuitSettings = {
  /** Failures in a row that open the circuit. */
  failureThreshold: number;
  /** How long the circuit stays open before a probe is let through. */
  probeAfterMs: number;
  /** Bounds every publish, so that a probe always settles. */
  timeoutMs: number;
  clock?: Clock;
};

export class PublisherCircuit implements ReviewPublisher {
  private current: PublisherCircuitState = { kind: 'closed', failures: 0 };
  private readonly now: () => number;

  constructor(
    private readonly inner: ReviewPublisher,
    private readonly settings: PublisherCircuitSettings,
  ) {
    this.now = settings.clock ?? systemClock;
  }

  get state(): PublisherCircuitState['kind'] {
    return this.current.kind;
  }

  /** Whether the next publish would be attempted (closed, or open long enough for a probe). */
  get admitsPublish(): boolean {
    const s = this.current;
    return s.kind === 'closed' || (s.kind === 'open' && this.now() - s.since >= this.settings.probeAfterMs);
  }

  /** Lets the next publish through as a probe now, however recently the circuit opened (a sweep's). */
  allowProbe(): void {
    if (this.current.kind === 'open') this.current = { kind: 'open', since: Number.NEGATIVE_INFINITY };
  }

  requestReview(message: ReviewRequestMessage, attributes: { task: string }): Promise<void> {
    return this.call(() => this.inner.requestReview(message, attributes));
  }

  escalate(message: EscalationMessage): Promise<void> {
    return this.call(() => this.inner.escalate(message));
  }

  publishEvent(message: ReviewEventMessage): Promise<void> {
    return this.call(() => this.inner.publishEvent(message));
  }

  private async call(publish: () => Promise<void>): Promise<void> {
    if (!this.admitsPublish) throw new PublisherCircuitOpenError();
    const probing = this.current.kind === 'open';
    if (probing) this.current = { kind: 'half_open' };
    try {
      await withTimeout(publish(), this.settings.timeoutMs, () => new DependencyUnavailableError('Pub/Sub'));
    } catch (error) {
      this.recordFailure(probing);
      throw error;
    }
    this.current = { kind: 'closed', failures: 0 };
  }

  private recordFailure(probing: boolean): void {
    const s = this.current;
    if (probing || s.kind !== 'closed' || s.failures + 1 >= this.settings.failureThreshold) {
      this.current = { kind: 'open', since: this.now() };
    } else {
      this.current = { kind: 'closed', failures: s.failures + 1 };
    }
  }
}

/** Publishing was skipped: the circuit is open (or a probe is in flight). The outbox keeps the entry. */
export class PublisherCircuitOpenError extends DependencyUnavailableError {
  constructor() {
    super('review topic (publisher circuit open)');
  }
}
