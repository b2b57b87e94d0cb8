import type { Principal } from '../auth/principal.js';
import type { ProviderStatus } from '../breakers/sharedBreakerBoard.js';
import { type Clock, dateClock } from '../clock.js';
import { effectiveState, type ReviewItem, type ReviewItemState } from './reviewItem.js';
import type { ReviewStore } from './reviewStore.js';

/**
 * What the console's admin view shows, read-only and for the caller's tenant only: the providers' breakers,
 * the health of the review queue, and how often reviewers agree with the model by confidence band (the
 * picture that tells whether a task's threshold sits in the right place). Computed from the review items
 * themselves, so a tenant's admin sees the tenant's own reviewers and nobody else's volumes.
 */

export type QueueHealth = {
  /** Items not yet decided (pending or claimed), counted up to the scan limit. */
  undecided: number;
  pending: number;
  claimed: number;
  escalated: number;
  sampled: number;
  oldestCreatedAt: string | null;
  oldestAgeSeconds: number | null;
  byTask: Record<string, number>;
  /** True when the queue is longer than the scan limit: the counts are lower bounds. */
  truncated: boolean;
};

export type AgreementBand = {
  /** `[low, high)`; the last band includes 1. */
  low: number;
  high: number;
  reviewed: number;
  approved: number;
  edited: number;
  rejected: number;
};

export type TaskAgreement = {
  task: string;
  /** The thresholds in force for these decisions, to read the bands against. */
  thresholds: number[];
  reviewed: number;
  bands: AgreementBand[];
};

export type AgreementSummary = {
  bandWidth: number;
  decisions: number;
  tasks: TaskAgreement[];
  /** True when there were more decisions than the scan limit: the oldest ones were counted. */
  truncated: boolean;
};

export type ReviewOverview = {
  generatedAt: string;
  providers: ProviderStatus[];
  queue: QueueHealth;
  agreement: AgreementSummary;
};

const PAGE = 200;
const UNDECIDED: readonly ReviewItemState[] = ['pending', 'claimed'];
const DECIDED: readonly ReviewItemState[] = ['approved', 'edited', 'rejected'];

export class ReviewOverviewService {
  private readonly now: () => Date;
  private readonly maxItems: number;
  private readonly bandWidth: number;

  constructor(
    private readonly deps: {
      store: Pick<ReviewStore, 'listItems'>;
      providers: { list(): Promise<ProviderStatus[]> };
      clock?: Clock;
      /** Items read per section at most (default 2,000). */
      maxItems?: number;
      /** Width of a confidence band (default 0.1). */
      bandWidth?: number;
    },
  ) {
    this.now = dateClock(deps.clock);
    this.maxItems = deps.maxItems ?? 2_000;
    this.bandWidth = deps.bandWidth ?? 0.1;
  }

  async overview(principal: Principal): Promise<ReviewOverview> {
    const [providers, undecided, decided] = await Promise.all([
      this.deps.providers.list(),
      this.scan(principal.tenant, UNDECIDED),
      this.scan(principal.tenant, DECIDED),
    ]);
    const now = this.now();
    return {
      generatedAt: now.toISOString(),
      providers,
      queue: queueHealth(undecided.items, now, undecided.truncated),
      agreement: agreementOf(decided.items, this.bandWidth, decided.truncated),
    };
  }

  private async scan(tenant: string, states: readonly ReviewItemState[]) {
    const items: ReviewItem[] = [];
    let after: { createdAt: Date; id: string } | null = null;
    while (items.length < this.maxItems) {
      const limit = Math.min(PAGE, this.maxItems - items.length);
      const page = await this.deps.store.listItems({ tenant, states, limit, after });
      items.push(...page);
      if (page.length < limit) return { items, truncated: false };
      const last = page[page.length - 1]!;
      after = { createdAt: last.createdAt, id: last.id };
    }
    return { items, truncated: true };
  }
}

export function queueHealth(items: readonly ReviewItem[], now: Date, truncated: boolean): QueueHealth {
  const health: QueueHealth = {
    undecided: items.length,
    pending: 0,
    claimed: 0,
    escalated: 0,
    sampled: 0,
    oldestCreatedAt: null,
    oldestAgeSeconds: null,
    byTask: {},
    truncated,
  };
  let oldest: Date | null = null;
  for (const item of items) {
    if (effectiveState(item, now) === 'claimed') health.claimed++;
    else health.pending++;
    if (item.escalatedAt) health.escalated++;
    if (item.sampled) health.sampled++;
    health.byTask[item.task] = (health.byTask[item.task] ?? 0) + 1;
    if (!oldest || item.createdAt < oldest) oldest = item.createdAt;
  }
  if (oldest) {
    health.oldestCreatedAt = oldest.toISOString();
    health.oldestAgeSeconds = Math.max(0, Math.floor((now.getTime() - oldest.getTime()) / 1000));
  }
  return health;
}

export function agreementOf(
  items: readonly ReviewItem[],
  bandWidth: number,
  truncated: boolean,
): AgreementSummary {
  if (!(bandWidth > 0 && bandWidth <= 1)) throw new RangeError('bandWidth must be in (0, 1]');
  const bandCount = Math.ceil(1 / bandWidth - 1e-9);
  const tasks = new Map<string, TaskAgreement>();
  let decisions = 0;
  for (const item of items) {
    const action = item.decision?.action;
    if (!action) continue;
    decisions++;
    let task = tasks.get(item.task);
    if (!task) {
      task = {
        task: item.task,
        thresholds: [],
        reviewed: 0,
        bands: Array.from({ length: bandCount }, (_, i) => ({
          low: round(i * bandWidth),
          high: round(Math.min(1, (i + 1) * bandWidth)),
          reviewed: 0,
          approved: 0,
          edited: 0,
          rejected: 0,
        })),
      };
      tasks.set(item.task, task);
    }
    if (!task.thresholds.includes(item.threshold)) task.thresholds.push(item.threshold);
    const index = Math.min(bandCount - 1, Math.max(0, Math.floor(item.confidence / bandWidth + 1e-9)));
    const band = task.bands[index]!;
    task.reviewed++;
    band.reviewed++;
    if (action === 'approve') band.approved++;
    else if (action === 'edit') band.edited++;
    else band.rejected++;
  }
  return {
    bandWidth,
    decisions,
    tasks: [...tasks.values()].sort((a, b) => a.task.localeCompare(b.task)),
    truncated,
  };
}

/** Band edges as people write them (0.3, not 0.30000000000000004). */
const round = (x: number) => Math.round(x * 1e6) / 1e6;
