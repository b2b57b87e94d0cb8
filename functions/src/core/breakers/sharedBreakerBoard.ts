import type { AuditSink } from '../audit/auditSink.js';
import type { ChainKey } from '../audit/chain.js';
import type { Admission, BreakerBoard, CallOutcome } from '../routing/router.js';
import { breakerAuditEvent } from './breakerAudit.js';
import {
  type BreakerRecord,
  type BreakerSettings,
  type BreakerStateKind,
  effectiveState,
  halfOpensAt,
  initialRecord,
  type WindowFigures,
} from './breakerState.js';
import type { BreakerStore, BucketIncrement } from './breakerStore.js';
import {
  addCounts,
  bucketStartOf,
  type Counts,
  classifyOutcome,
  figuresOf,
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
 * - Requests read only this instance's in-memory view; a healthy provider costs no store call at all.
 * - Outcomes are counted in memory and flushed every `flushMs` as one increment per provider to a time-bucket
 *   document (this instance's shard of it).
 * - Every `refreshMs` the view is refreshed: the state records, and the window's buckets (older buckets,
 *   which no longer change, are kept from earlier reads). The window an instance judges is the shared one
 *   plus its own outcomes not yet flushed.
 * - State changes go through the store's transactions (transitions.ts): N instances that notice at once make
 *   one transition, and only the instance whose transaction made it writes the audit event, after commit.
 * - If the store is unreachable the instance keeps deciding on its local view, says so once in the log, and
 *   keeps retrying on its timers; the shared state wins again once it is readable.
 */

export type ProviderStatus = {
  name: string;
  state: BreakerStateKind;
  errorRate: number;
  requests: number;
  openedAt: string | null;
};

export type BoardLog = (
  severity: 'INFO' | 'WARNING',
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
  clock?: () => number;
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
  /** This instance's outcomes not yet written to a bucket. */
  pending: Counts;
  /** Counts whose write is in flight. */
  flushing: Counts | null;
  /** Generations of the half-open cycles whose probe permits this instance holds, oldest first. */
  probes: number[];
  /** One admission decision and one opening at a time per provider in this instance. */
  admitting: boolean;
  opening: boolean;
};

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

  constructor(private readonly deps: SharedBreakerBoardDeps) {
    this.now = deps.clock ?? Date.now;
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
        pending: zeroCounts(),
        flushing: null,
        probes: [],
        admitting: false,
        opening: false,
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
    if (!view) return { allowed: true, state: 'closed', probe: false };
    const now = this.now();
    const state = effectiveState(view.record, now, view.settings);
    if (state.kind === 'closed') return { allowed: true, state: 'closed', probe: false };
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
    const now = this.now();
    const verdict = classifyOutcome(outcome, view.settings.slowCallMs);
    if (outcome.probe) {
      const generation = view.probes.shift();
      if (generation === undefined) return;
      void this.decide(view, (current) =>
        decideProbeResult(provider, current, generation, verdict, now, view.settings),
      );
      return;
    }
    if (verdict === 'ignored') return;
    // A call admitted just before the breaker opened says nothing new about a window that is already judged.
    if (effectiveState(view.record, now, view.settings).kind !== 'closed') return;
    view.pending.requests += 1;
    if (verdict === 'failure') view.pending.failures += 1;
    this.evaluate(view, now);
  }

  // ---- operators ----

  /** Every provider's breaker, freshly read from the store (this instance's view if it is unreachable). */
  async list(): Promise<ProviderStatus[]> {
    await this.refresh();
    const now = this.now();
    return [...this.views.values()].map((view) => {
      const state = effectiveState(view.record, now, view.settings);
      const figures = state.kind === 'closed' ? this.windowFigures(view, now) : view.record.figures;
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

  /** Writes this instance's pending counts: at most one bucket document per provider. */
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
    const now = this.now();
    const writes: { view: View; increment: BucketIncrement }[] = [];
    for (const view of this.views.values()) {
      if (view.pending.requests === 0) continue;
      const bucketStart = bucketStartOf(now, view.settings.bucketMs);
      const increment: BucketIncrement = {
        provider: view.provider,
        generation: view.sharedGeneration,
        bucketStart,
        shard: this.shard,
        counts: view.pending,
        expiresAt: bucketStart + view.settings.bucketMs + view.settings.windowMs,
      };
      view.flushing = view.pending;
      view.pending = zeroCounts();
      writes.push({ view, increment });
    }
    if (writes.length === 0) return;
    try {
      await this.withinDeadline(this.deps.store.addCounts(writes.map((w) => w.increment)));
      for (const { view, increment } of writes) {
        if (view.sharedGeneration !== increment.generation) continue;
        const bucket = view.buckets.get(increment.bucketStart) ?? zeroCounts();
        view.buckets.set(increment.bucketStart, addCounts(bucket, increment.counts));
      }
    } catch (e) {
      this.storeFailed('flush', e);
      // A write that failed outright is retried with the next flush. One that merely ran past the deadline
      // may still land: those counts are dropped rather than risk counting them twice.
      if (!(e instanceof StoreDeadlineError)) {
        for (const { view, increment } of writes) {
          if (view.sharedGeneration === increment.generation) addCounts(view.pending, increment.counts);
        }
      }
    } finally {
      for (const { view } of writes) view.flushing = null;
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
  }

  // ---- judging and deciding ----

  /** The window as this instance knows it: shared buckets, plus its own counts not yet in them. */
  private windowFigures(view: View, now: number): WindowFigures {
    const total = zeroCounts();
    for (const start of windowBucketStarts(now, view.settings)) {
      const bucket = view.buckets.get(start);
      if (bucket) addCounts(total, bucket);
    }
    addCounts(total, view.pending);
    if (view.flushing) addCounts(total, view.flushing);
    return figuresOf(total);
  }

  private evaluate(view: View, now: number): void {
    if (view.opening || effectiveState(view.record, now, view.settings).kind !== 'closed') return;
    const figures = this.windowFigures(view, now);
    if (!shouldOpen(figures, view.settings)) return;
    view.opening = true;
    const seen = view.sharedGeneration;
    void this.decide(view, (current) => decideOpen(view.provider, current, seen, figures, now)).finally(
      () => {
        view.opening = false;
      },
    );
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
      view.buckets = new Map();
      view.pending = zeroCounts();
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
    try {
      await this.deps.audit.write(event);
    } catch {
      this.deps.log('WARNING', 'audit sink write failed', {
        eventId: event.eventId,
        eventType: event.eventType,
      });
    }
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

  private withinDeadline<T>(work: Promise<T>, ms = this.deadlineMs): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new StoreDeadlineError('breaker store call exceeded its deadline')),
        ms,
      );
      timer.unref();
    });
    return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
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
