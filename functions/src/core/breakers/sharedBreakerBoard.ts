import { type AuditSink, writeAuditEvent } from '../audit/auditSink.js';
import type { ChainKey } from '../audit/chain.js';
import { type Clock, systemClock } from '../clock.js';
import { withTimeout } from '../retry.js';
import type { Admission, BreakerBoard, CallOutcome } from '../routing/router.js';
import { breakerAuditEvent } from './breakerAudit.js';
import {
  type BreakerRecord,
  type BreakerSettings,
  type BreakerStateKind,
  effectiveState,
  halfOpensAt,
  initialRecord,
} from './breakerState.js';
import type { BreakerStore, BucketIncrement } from './breakerStore.js';
import { type PendingBucket, PendingBuckets } from './pendingBuckets.js';
import {
  addCounts,
  type Counts,
  classifyOutcome,
  figuresOf,
  oldestBucketStart,
  shouldOpen,
  windowBucketStarts,
  zeroCounts,
} from './slidingWindow.js';
import {
  type Decided,
  type Decision,
  decideOpen,
  decideProbeAdmission,
  decideProbeResult,
  PROBES_OUT_RETRY_MS,
  type ProbeAdmission,
  type Transition,
} from './transitions.js';

/**
 * Circuit breakers shared by every gateway instance through a `BreakerStore`, built for a store that takes
 * about one sustained write per second per document:
 *
 * - Requests read only this instance's in-memory view; a healthy provider costs no store call at all, and
 *   recording an outcome is O(1) without allocation.
 * - Outcomes are counted in memory, per time bucket, and flushed every `flushMs` as one increment per provider
 *   and bucket to a time-bucket document (this instance's shard of it). Counts not yet written age out with
 *   the window like shared ones, so a long store outage neither dilutes the window nor lands in one bucket.
 * - Every `refreshMs` the view is refreshed: the state records, and the window's buckets (older buckets,
 *   which no longer change, are kept from earlier reads). The window an instance judges is the shared one
 *   plus its own outcomes not yet flushed.
 * - State changes go through the store's transactions (transitions.ts): N instances that notice at once make
 *   one transition, and only the instance whose transaction made it writes the audit event, after commit.
 * - If the store is unreachable or slow the instance keeps deciding on its local view (its own counts, and
 *   the shared ones it last read while they are in the window), trips on its own, says so once in the log,
 *   and keeps retrying on its timers; the shared state wins again once it is readable.
 */

export type ProviderStatus = {
  name: string;
  state: BreakerStateKind;
  errorRate: number;
  requests: number;
  openedAt: string | null;
};

export type BoardLog = (
  severity: 'INFO' | 'WARNING' | 'ERROR',
  message: string,
  fields: Record<string, string | number | boolean | null>,
) => void;

export type SharedBreakerBoardDeps = {
  store: BreakerStore;
  /** Settings per provider; the board keeps a breaker for exactly these providers. */
  settings: Readonly<Record<string, BreakerSettings>>;
  flushMs: number;
  refreshMs: number;
  /** Bucket documents per provider and bucket; this instance writes one of them. */
  shards: number;
  audit: AuditSink;
  gatewayVersion: string;
  /** Seals the audit events of transitions. */
  chainKey: ChainKey;
  log: BoardLog;
  clock?: Clock;
  /** This instance's shard; random by default so that instances spread over the shards. */
  shard?: number;
  /** How long a store call may take before the board treats the store as unavailable. */
  storeDeadlineMs?: number;
};

/** Store calls slower than this are treated as failures (the request path never waits longer). */
export const DEFAULT_STORE_DEADLINE_MS = 3_000;

type View = {
  provider: string;
  settings: BreakerSettings;
  /** The record this instance acts on: the shared one, or a local decision made while the store was out. */
  record: BreakerRecord;
  localOnly: boolean;
  /** The generation of the last shared record seen: the closed period `buckets` and `pending` count for. */
  sharedGeneration: number;
  /** Shared window counts per bucket start. */
  buckets: Map<number, Counts>;
  /** The sum of `buckets` from `sharedSumFrom` on, kept so that judging a call does not walk the map. */
  sharedSum: Counts;
  sharedSumFrom: number;
  /** This instance's outcomes not yet in `buckets`: pending, or being written. */
  pending: PendingBuckets;
  /** Grows whenever the window is emptied, so a write that settles afterwards leaves the new window alone. */
  epoch: number;
  /** Generations of the half-open cycles whose probe permits this instance holds, oldest first. */
  probes: number[];
  /** One admission decision and one opening at a time per provider in this instance. */
  admitting: boolean;
  opening: boolean;
  /** Scratch space for judging the window, reused on every call. */
  scratch: Counts;
};

/** A closed breaker's admission: one shared object, since the request path should allocate nothing for it. */
const ADMIT_CLOSED: Admission = Object.freeze({ allowed: true, state: 'closed', probe: false });

class StoreDeadlineError extends Error {
  readonly code = 'deadline_exceeded';
}

export class SharedBreakerBoard implements BreakerBoard {
  private readonly views = new Map<string, View>();
  private readonly now: () => number;
  private readonly shard: number;
  private readonly deadlineMs: number;
  private readonly inflight = new Set<Promise<unknown>>();
  private timers: NodeJS.Timeout[] = [];
  private serialTail: Promise<void> = Promise.resolve();
  private queued = { flush: false, refresh: false };
  private degraded = false;
  /** One bucket write at a time: a slow store must not pile up writes (nor count them twice). */
  private writing = false;
  /** When this instance started: its window is no older than that. */
  private readonly startedAt: number;

  constructor(private readonly deps: SharedBreakerBoardDeps) {
    this.now = deps.clock ?? systemClock;
    this.startedAt = this.now();
    this.shard = deps.shard ?? Math.floor(Math.random() * deps.shards);
    this.deadlineMs = deps.storeDeadlineMs ?? DEFAULT_STORE_DEADLINE_MS;
    for (const [provider, settings] of Object.entries(deps.settings)) {
      this.views.set(provider, {
        provider,
        settings,
        record: initialRecord,
        localOnly: false,
        sharedGeneration: initialRecord.generation,
        buckets: new Map(),
        sharedSum: zeroCounts(),
        sharedSumFrom: Number.NaN,
        pending: new PendingBuckets(settings),
        epoch: 0,
        probes: [],
        admitting: false,
        opening: false,
        scratch: zeroCounts(),
      });
    }
  }

  /** Starts the flush and refresh timers (unref'd: they never keep a process alive) and a first refresh. */
  start(): void {
    if (this.timers.length > 0) return;
    this.timers = [
      setInterval(() => this.tick('flush'), this.deps.flushMs),
      setInterval(() => this.tick('refresh'), this.deps.refreshMs),
    ];
    for (const timer of this.timers) timer.unref();
    this.tick('refresh');
  }

  /** Stops the timers, writes what is still pending, and waits for transitions in flight. */
  async close(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    await this.flush();
    await this.settled();
  }

  // ---- the router's side: in-memory only, except to take a probe permit ----

  async admit(provider: string): Promise<Admission> {
    const view = this.views.get(provider);
    if (!view) return ADMIT_CLOSED;
    const now = this.now();
    const state = effectiveState(view.record, now, view.settings);
    if (state.kind === 'closed') return ADMIT_CLOSED;
    if (state.kind === 'open' && now < halfOpensAt(state, view.settings)) {
      return { allowed: false, state: 'open', retryAfterMs: halfOpensAt(state, view.settings) - now };
    }
    if ((state.kind === 'half_open' && state.permitsLeft <= 0) || view.admitting) {
      return { allowed: false, state: state.kind, retryAfterMs: PROBES_OUT_RETRY_MS };
    }
    view.admitting = true;
    try {
      const decided = await this.decide(view, (current) =>
        decideProbeAdmission(provider, current, now, view.settings),
      );
      return this.admissionFrom(view, decided.admission);
    } finally {
      view.admitting = false;
    }
  }

  recordOutcome(provider: string, outcome: CallOutcome): void {
    const view = this.views.get(provider);
    if (!view) return;
    const verdict = classifyOutcome(outcome, view.settings);
    if (outcome.probe) {
      const generation = view.probes.shift();
      if (generation === undefined) return;
      // A probe always settles its permit, or every later call would become a probe. A call that says nothing
      // against the provider (it refused this input, so it is up and answering) passes.
      const result = verdict === 'failure' ? 'failure' : 'success';
      const now = this.now();
      void this.decide(view, (current) =>
        decideProbeResult(provider, current, generation, result, now, view.settings),
      );
      return;
    }
    if (verdict === 'ignored') return;
    const now = this.now();
    // A call admitted just before the breaker opened says nothing new about a window that is already judged.
    if (effectiveState(view.record, now, view.settings).kind !== 'closed') return;
    view.pending.record(now, verdict === 'failure');
    // Only a failure can take the window to its threshold on the request path; the refresh judges the rest.
    if (verdict === 'failure') this.evaluate(view, now);
  }

  // ---- operators ----

  /** Every provider's breaker, freshly read from the store (this instance's view if it is unreachable). */
  async list(): Promise<ProviderStatus[]> {
    await this.refresh();
    const now = this.now();
    return [...this.views.values()].map((view) => {
      const state = effectiveState(view.record, now, view.settings);
      const figures = state.kind === 'closed' ? figuresOf(this.windowCounts(view, now)) : view.record.figures;
      return {
        name: view.provider,
        state: state.kind,
        errorRate: Math.round(figures.errorRate * 1e6) / 1e6,
        requests: figures.requests,
        openedAt: state.kind === 'closed' ? null : new Date(state.openedAt).toISOString(),
      };
    });
  }

  // ---- sharing: flush and refresh, one at a time so that a flush is never counted twice ----

  /**
   * Writes this instance's pending counts: one bucket document per provider and bucket with counts (one,
   * except across a bucket boundary or after the store was out).
   */
  flush(): Promise<void> {
    return this.serial(() => this.flushNow());
  }

  /** Reads the shared records and windows into the view, then judges every closed breaker on them. */
  refresh(): Promise<void> {
    return this.serial(() => this.refreshNow());
  }

  /** Resolves once every transition, probe result and audit write started so far has finished. */
  async settled(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  private tick(kind: 'flush' | 'refresh'): void {
    // A slow store must not pile up timer work: at most one of each kind waits.
    if (this.queued[kind]) return;
    this.queued[kind] = true;
    void (kind === 'flush' ? this.flush() : this.refresh()).finally(() => {
      this.queued[kind] = false;
    });
  }

  private serial(task: () => Promise<void>): Promise<void> {
    const run = this.serialTail.then(task);
    this.serialTail = run.catch(() => undefined);
    return run;
  }

  private async flushNow(): Promise<void> {
    if (this.writing) return;
    const now = this.now();
    const writes: { view: View; epoch: number; taken: PendingBucket[]; generation: number }[] = [];
    const increments: BucketIncrement[] = [];
    for (const view of this.views.values()) {
      const taken = view.pending.take(oldestBucketStart(now, view.settings));
      if (taken.length === 0) continue;
      writes.push({ view, epoch: view.epoch, taken, generation: view.sharedGeneration });
      for (const { bucketStart, counts } of taken) {
        increments.push({
          provider: view.provider,
          generation: view.sharedGeneration,
          bucketStart,
          shard: this.shard,
          counts,
          expiresAt: bucketStart + view.settings.bucketMs + view.settings.windowMs,
        });
      }
    }
    if (increments.length === 0) return;
    this.writing = true;
    // Until the write settles its counts stay this instance's to count, even past the deadline: a slow store
    // must not make them vanish (nor count twice: a write that failed is pending again, one that landed is
    // the store's). A refresh that reads the landed write before it settles here counts it twice until then,
    // at most one flush interval of one instance's calls.
    const settled = this.deps.store.addCounts(increments).then(
      () => {
        for (const { view, epoch, taken, generation } of writes) {
          if (view.epoch !== epoch) continue;
          view.pending.settle(taken, true);
          if (view.sharedGeneration !== generation) continue;
          for (const { bucketStart, counts } of taken) {
            const bucket = view.buckets.get(bucketStart) ?? zeroCounts();
            view.buckets.set(bucketStart, addCounts(bucket, counts));
          }
          view.sharedSumFrom = Number.NaN;
        }
      },
      (e: unknown) => {
        this.storeFailed('flush', e);
        for (const { view, epoch, taken } of writes)
          if (view.epoch === epoch) view.pending.settle(taken, false);
      },
    );
    const done = settled.finally(() => {
      this.writing = false;
    });
    this.track(done);
    try {
      await this.withinDeadline(done);
    } catch (e) {
      this.storeFailed('flush', e);
    }
  }

  private async refreshNow(): Promise<void> {
    const now = this.now();
    const views = [...this.views.values()];
    try {
      const records = await this.withinDeadline(this.deps.store.loadRecords(views.map((v) => v.provider)));
      for (const view of views) {
        const shared = records.get(view.provider) ?? initialRecord;
        // A read older than a transaction result this instance already applied is ignored.
        if (view.localOnly || shared.generation >= view.sharedGeneration) this.adoptShared(view, shared);
      }
      await Promise.all(views.map((view) => this.refreshWindow(view, now)));
    } catch (e) {
      this.storeFailed('refresh', e);
      return;
    }
    if (this.degraded) {
      this.degraded = false;
      this.deps.log('INFO', 'breaker store reachable again: breakers follow the shared state', {
        event: 'breaker_store_recovered',
      });
    }
    for (const view of views) this.evaluate(view, this.now());
  }

  private async refreshWindow(view: View, now: number): Promise<void> {
    if (view.record.state.kind !== 'closed' || view.localOnly) return;
    const generation = view.sharedGeneration;
    const starts = windowBucketStarts(now, view.settings);
    const newest = starts.at(-1)!;
    // Buckets before the previous one no longer receive writes: read them once, then keep them.
    const from = starts.find((s) => !view.buckets.has(s) || s >= newest - view.settings.bucketMs) ?? newest;
    const loaded = await this.withinDeadline(
      this.deps.store.loadBuckets(view.provider, generation, from, newest),
    );
    if (view.sharedGeneration !== generation) return;
    for (const start of view.buckets.keys()) if (start < starts[0]!) view.buckets.delete(start);
    for (const start of starts) if (start >= from) view.buckets.set(start, loaded.get(start) ?? zeroCounts());
    view.sharedSumFrom = Number.NaN;
  }

  // ---- judging and deciding ----

  /**
   * The window as this instance knows it: shared buckets, plus its own counts not yet in them. Runs on every
   * failed call: it walks a handful of slots and allocates nothing (the result is the view's scratch object).
   */
  private windowCounts(view: View, now: number): Counts {
    const oldest = oldestBucketStart(now, view.settings);
    if (view.sharedSumFrom !== oldest) {
      view.sharedSum.requests = 0;
      view.sharedSum.failures = 0;
      for (const [start, counts] of view.buckets) if (start >= oldest) addCounts(view.sharedSum, counts);
      view.sharedSumFrom = oldest;
    }
    const total = view.scratch;
    total.requests = view.sharedSum.requests;
    total.failures = view.sharedSum.failures;
    view.pending.addInto(total, oldest);
    return total;
  }

  /** How long the window being judged has been filling: since the last transition, or since this instance started. */
  private windowAge(view: View, now: number): number {
    return now - Math.max(view.record.changedAt, this.startedAt);
  }

  private evaluate(view: View, now: number): void {
    if (view.opening || effectiveState(view.record, now, view.settings).kind !== 'closed') return;
    const counts = this.windowCounts(view, now);
    if (!shouldOpen(counts, this.windowAge(view, now), view.settings)) return;
    const figures = figuresOf(counts);
    view.opening = true;
    const seen = view.sharedGeneration;
    void this.decide(view, (current) => decideOpen(view.provider, current, seen, figures, now)).finally(
      () => {
        view.opening = false;
      },
    );
  }

  /** Empties the window: a new period starts (a new shared generation, or a local close). */
  private resetWindow(view: View): void {
    view.buckets = new Map();
    view.sharedSumFrom = Number.NaN;
    view.pending.clear();
    view.epoch += 1;
  }

  /**
   * Runs a decision through the store and adopts its result; the transition it made, if any, is announced
   * after the commit. If the store fails, or is slower than the store deadline, the same decision is taken
   * on the local view instead (the request path never waits longer). A store call that outlives the deadline
   * still has its result adopted and its transition announced when it commits.
   */
  private decide<T extends Decided>(
    view: View,
    decision: (current: BreakerRecord | null) => Decision<T>,
  ): Promise<T> {
    const stored = this.deps.store.update(view.provider, decision);
    const committed = stored.then(async (result) => {
      if (result.record.generation >= view.sharedGeneration || view.localOnly) {
        this.adoptShared(view, result.record);
      }
      if (result.transition) await this.announce(result.transition);
      return result;
    });
    this.track(committed);
    const outcome = this.withinDeadline(stored).then(
      () => committed,
      (e: unknown) => {
        this.storeFailed('transition', e);
        const local = decision(view.record).result;
        if (local.transition) {
          view.record = local.record;
          view.localOnly = true;
          // Closed again on this instance alone: its window starts empty, as a shared close's would.
          if (local.transition.to === 'closed') this.resetWindow(view);
          this.deps.log(
            'WARNING',
            `breaker ${local.transition.to} on this instance only: shared state unavailable`,
            {
              event: 'breaker_local_transition',
              provider: view.provider,
              from: local.transition.from,
              to: local.transition.to,
            },
          );
        } else {
          view.record = local.record;
        }
        return local;
      },
    );
    this.track(outcome);
    return outcome;
  }

  private admissionFrom(view: View, admission: ProbeAdmission): Admission {
    if (admission.granted === 'closed') return { allowed: true, state: 'closed', probe: false };
    if (admission.granted) {
      view.probes.push(admission.generation);
      return { allowed: true, state: 'half_open', probe: true };
    }
    const kind = effectiveState(view.record, this.now(), view.settings).kind;
    return { allowed: false, state: kind, retryAfterMs: admission.retryAfterMs };
  }

  private adoptShared(view: View, record: BreakerRecord): void {
    if (record.generation !== view.sharedGeneration) {
      // A new period: its window starts empty, and what was counted for the old one no longer matters.
      view.sharedGeneration = record.generation;
      this.resetWindow(view);
    }
    view.record = record;
    view.localOnly = false;
  }

  private async announce(transition: Transition): Promise<void> {
    const { figures, generation } = transition.record;
    this.deps.log(transition.to === 'closed' ? 'INFO' : 'WARNING', `breaker ${transition.to}`, {
      event: 'breaker_transition',
      provider: transition.provider,
      from: transition.from,
      to: transition.to,
      generation,
      windowRequests: figures.requests,
      windowFailures: figures.failures,
      errorRate: figures.errorRate,
    });
    const event = breakerAuditEvent(transition, this.deps.gatewayVersion, this.deps.chainKey);
    await writeAuditEvent(this.deps.audit, event, (message, failure) =>
      this.deps.log('ERROR', message, failure),
    );
  }

  private storeFailed(operation: string, error: unknown): void {
    if (this.degraded) return;
    this.degraded = true;
    const code = (error as { code?: unknown } | null)?.code;
    this.deps.log('WARNING', "breaker store unavailable: using this instance's local view until it is back", {
      event: 'breaker_store_unavailable',
      operation,
      code: typeof code === 'string' || typeof code === 'number' ? code : null,
    });
  }

  private withinDeadline<T>(work: Promise<T>): Promise<T> {
    return withTimeout(
      work,
      this.deadlineMs,
      () => new StoreDeadlineError('breaker store call exceeded its deadline'),
    );
  }

  private track(work: Promise<unknown>): void {
    const settled = work.then(
      () => undefined,
      () => undefined,
    );
    this.inflight.add(settled);
    void settled.then(() => this.inflight.delete(settled));
  }
}
