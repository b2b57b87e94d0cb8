import { type Clock, dateClock } from '../clock.js';
import { DependencyUnavailableError, isGatewayError } from '../errors.js';
import { withTimeout } from '../retry.js';
import type { TaskRequest, TaskScheduler } from '../scheduling/taskScheduler.js';
import type { TaskName } from '../tasks.js';
import type { ReviewEventMessage } from './reviewEvents.js';
import type { ReviewPublisher } from './reviewPublisher.js';

/**
 * The review outbox: effects that must follow a committed state change (publish a review request, publish an
 * escalation, schedule a callback) are recorded in the same Firestore transaction as the change, then
 * delivered after commit. Whatever could not be delivered at once (Pub/Sub or Cloud Tasks down, the instance
 * died) is delivered by the sweeper (`POST /jobs/sweep-review-outbox`, every minute). Every effect is
 * idempotent downstream (review intake and task names deduplicate), so delivering one twice is harmless.
 */

type EntryBase = { id: string; inferenceId: string; tenant: string; createdAt: Date };

export type OutboxEntry =
  | (EntryBase & { kind: 'review_request'; task: TaskName })
  | (EntryBase & { kind: 'escalation'; reviewId: string; task: TaskName; dueAt: Date; escalatedAt: Date })
  | (EntryBase & { kind: 'callback'; reviewId: string; callbackUrl: string })
  | (EntryBase & { kind: 'review_event'; reviewId: string; message: ReviewEventMessage });

export const outboxEntry = {
  /** Keyed by the inference id: one review request per inference. */
  reviewRequest: (i: { id: string; tenant: string; task: TaskName }, now: Date): OutboxEntry => ({
    kind: 'review_request',
    id: i.id,
    inferenceId: i.id,
    tenant: i.tenant,
    task: i.task,
    createdAt: now,
  }),
  escalation: (
    item: { id: string; inferenceId: string; tenant: string; task: TaskName; dueAt: Date },
    now: Date,
  ): OutboxEntry => ({
    kind: 'escalation',
    id: `${item.id}.escalation`,
    reviewId: item.id,
    inferenceId: item.inferenceId,
    tenant: item.tenant,
    task: item.task,
    dueAt: item.dueAt,
    escalatedAt: now,
    createdAt: now,
  }),
  callback: (
    item: { id: string; inferenceId: string; tenant: string },
    callbackUrl: string,
    now: Date,
  ): OutboxEntry => ({
    kind: 'callback',
    id: `${item.id}.callback`,
    reviewId: item.id,
    inferenceId: item.inferenceId,
    tenant: item.tenant,
    callbackUrl,
    createdAt: now,
  }),
  /** One lifecycle message (reviewEvents.ts), keyed by its event id: one entry per step. */
  reviewEvent: (message: ReviewEventMessage, now: Date): OutboxEntry => ({
    kind: 'review_event',
    id: `${message.reviewId}.event.${message.eventId}`,
    reviewId: message.reviewId,
    inferenceId: message.inferenceId,
    tenant: message.tenant,
    message,
    createdAt: now,
  }),
};

/** Storage of the outbox. Entries are created by the stores that commit the state changes. */
export interface OutboxStore {
  /** Undelivered entries created at or before `createdBefore`, oldest first. */
  listUndelivered(createdBefore: Date, limit: number): Promise<OutboxEntry[]>;
  markDelivered(id: string, at: Date): Promise<void>;
  /** Counts a failed delivery (for operators); the entry stays undelivered. */
  recordFailure(id: string, at: Date, reason: string): Promise<void>;
  /** The undelivered `review_event` entries of one review item, in any order. */
  undeliveredEventsOf(reviewId: string): Promise<OutboxEntry[]>;
}

export type OutboxRelayDeps = {
  store: OutboxStore;
  publisher: ReviewPublisher;
  scheduler: TaskScheduler;
  /**
   * Where callback tasks go: the review jobs endpoint that signs and sends the callback (core/review/
   * callbacks.ts), with our internal identity. The caller's URL is never a task target: an internal token
   * must not leave the gateway.
   */
  callbackJob: Pick<TaskRequest, 'url' | 'oidc'>;
  /** How long one delivery may take before it is left to the sweeper. */
  deliveryTimeoutMs: number;
  /**
   * The publisher's circuit (publisherCircuit.ts), if it has one. While it is open the relay sweeps on its
   * own every `everyMs`, probing with the oldest entry, so that what was skipped during an outage is
   * delivered within seconds of recovery rather than at the next scheduled sweep.
   */
  recovery?: {
    circuit: { readonly state: string; readonly admitsPublish: boolean; allowProbe(): void };
    everyMs: number;
  };
  clock?: Clock;
  warn?: (message: string, fields?: Record<string, unknown>) => void;
};

export type SweepResult = { delivered: number; failed: number };
export type SweepOptions = { minAgeMs: number; batchSize: number; maxBatches: number };

export class OutboxRelay {
  private readonly now: () => Date;
  private recoveryTimer: NodeJS.Timeout | undefined;
  private recovering = false;
  /** Sweeps run one at a time: a sweep's probe must not meet another sweep's probe in flight. */
  private sweeping: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: OutboxRelayDeps) {
    this.now = dateClock(deps.clock);
  }

  /**
   * Delivers one entry and marks it delivered. Never throws: an entry that could not be delivered stays in
   * the outbox for the sweeper, and the caller's own answer does not depend on it.
   */
  async deliver(entry: OutboxEntry): Promise<boolean> {
    try {
      await withTimeout(
        this.perform(entry),
        this.deps.deliveryTimeoutMs,
        () => new DependencyUnavailableError(dependencyOf(entry)),
      );
    } catch (error) {
      const reason = isGatewayError(error) ? error.kind : 'internal';
      this.deps.warn?.('review outbox entry not delivered; the sweeper will retry it', {
        outboxId: entry.id,
        kind: entry.kind,
        reason,
      });
      await this.deps.store.recordFailure(entry.id, this.now(), reason).catch(() => undefined);
      if (entry.kind !== 'callback' && this.deps.recovery?.circuit.state === 'open') this.startRecovery();
      return false;
    }
    try {
      await this.deps.store.markDelivered(entry.id, this.now());
    } catch {
      // Delivered but not marked: the sweeper delivers it again, which is harmless.
      this.deps.warn?.('review outbox entry delivered but not marked', {
        outboxId: entry.id,
        kind: entry.kind,
      });
    }
    return true;
  }

  /** Delivers entries at least `minAgeMs` old (younger ones are still being delivered by their writer). */
  sweep(options: SweepOptions): Promise<SweepResult> {
    const run = this.sweeping.then(() => this.sweepOnce(options));
    this.sweeping = run.catch(() => undefined);
    return run;
  }

  private async sweepOnce(options: SweepOptions): Promise<SweepResult> {
    const result: SweepResult = { delivered: 0, failed: 0 };
    const failedIds = new Set<string>();
    // With the publisher's circuit open, the oldest entry goes first, alone, as its probe (a sweep always
    // probes): the rest follow once it has closed (in parallel they would all be refused at once).
    if (this.deps.recovery && this.deps.recovery.circuit.state !== 'closed') {
      this.deps.recovery.circuit.allowProbe();
      const [probe] = await this.deps.store.listUndelivered(
        new Date(this.now().getTime() - options.minAgeMs),
        1,
      );
      if (probe && !(await this.deliver(probe))) return { delivered: 0, failed: 1 };
      if (probe) result.delivered++;
    }
    for (let batch = 0; batch < options.maxBatches; batch++) {
      const cutoff = new Date(this.now().getTime() - options.minAgeMs);
      const entries = (
        await this.deps.store.listUndelivered(cutoff, options.batchSize + failedIds.size)
      ).filter((e) => !failedIds.has(e.id));
      if (entries.length === 0) break;
      const outcomes = await Promise.all(entries.map((entry) => this.deliver(entry)));
      outcomes.forEach((ok, i) => {
        if (ok) result.delivered++;
        else {
          result.failed++;
          failedIds.add(entries[i]!.id);
        }
      });
      if (entries.length < options.batchSize) break;
    }
    return result;
  }

  /** Stops the recovery sweeps (the scheduled sweeper still delivers whatever is left). */
  close(): void {
    clearInterval(this.recoveryTimer);
    this.recoveryTimer = undefined;
  }

  private startRecovery(): void {
    if (this.recoveryTimer || !this.deps.recovery) return;
    this.recoveryTimer = setInterval(() => void this.recover(), this.deps.recovery.everyMs);
    this.recoveryTimer.unref();
  }

  /** One recovery step: a sweep (probing first) whenever the circuit would let a publish through. */
  private async recover(): Promise<void> {
    const circuit = this.deps.recovery?.circuit;
    if (!circuit || this.recovering || !circuit.admitsPublish) return;
    this.recovering = true;
    try {
      const result = await this.sweep({ minAgeMs: 0, batchSize: RECOVERY_BATCH, maxBatches: 20 });
      const nothingLeft = result.delivered === 0 && result.failed === 0; // the next publish probes
      if (nothingLeft || (result.failed === 0 && circuit.state === 'closed')) this.close();
    } catch {
      // The store is failing too: the next step tries again.
    } finally {
      this.recovering = false;
    }
  }

  private async perform(entry: OutboxEntry): Promise<void> {
    switch (entry.kind) {
      case 'review_request':
        await this.deps.publisher.requestReview(
          { schemaVersion: 1, inferenceId: entry.inferenceId, tenant: entry.tenant },
          { task: entry.task },
        );
        return;
      case 'escalation':
        await this.deps.publisher.escalate({
          schemaVersion: 1,
          reviewId: entry.reviewId,
          inferenceId: entry.inferenceId,
          tenant: entry.tenant,
          task: entry.task,
          dueAt: entry.dueAt.toISOString(),
          escalatedAt: entry.escalatedAt.toISOString(),
        });
        return;
      case 'review_event':
        await this.publishEventInOrder(entry);
        return;
      case 'callback':
        await this.deps.scheduler.schedule({
          queue: 'callbacks',
          name: `callback-${entry.reviewId}`,
          ...this.deps.callbackJob,
          body: { reviewId: entry.reviewId },
          scheduleAt: this.now(),
        });
        return;
    }
  }

  /**
   * Publishes an item's earlier undelivered steps before this one, so that the order in which its messages
   * reach the topic (and, through the ordering key, a subscriber) is the order of the steps, even when an
   * earlier step's delivery failed and waits for the sweeper. If an earlier step cannot be published, this
   * one is not published either: it stays for the sweeper, which retries them in order.
   */
  private async publishEventInOrder(entry: OutboxEntry & { kind: 'review_event' }): Promise<void> {
    const earlier = (await this.deps.store.undeliveredEventsOf(entry.reviewId))
      .filter(
        (e): e is OutboxEntry & { kind: 'review_event' } =>
          e.kind === 'review_event' && e.message.sequence < entry.message.sequence,
      )
      .sort((a, b) => a.message.sequence - b.message.sequence);
    for (const e of earlier) {
      await this.deps.publisher.publishEvent(e.message);
      await this.deps.store.markDelivered(e.id, this.now()).catch(() => undefined);
    }
    await this.deps.publisher.publishEvent(entry.message);
  }
}

const RECOVERY_BATCH = 100;

const dependencyOf = (entry: OutboxEntry): string =>
  entry.kind === 'callback' ? 'task scheduler' : 'review topic';
