import assert from 'node:assert/strict';
import type { ReviewAction, ReviewItem } from '../../functions/src/core/review/reviewItem.js';
import {
  agreementOf,
  queueHealth,
  ReviewOverviewService,
} from '../../functions/src/core/review/reviewOverview.js';
import type { ReviewListQuery } from '../../functions/src/core/review/reviewStore.js';

const now = new Date('2026-12-01T12:00:00Z');
const minutesAgo = (m: number) => new Date(now.getTime() - m * 60_000);

let seq = 0;
function item(over: Partial<ReviewItem> = {}): ReviewItem {
  seq++;
  return {
    id: `rev_${String(seq).padStart(4, '0')}`,
    inferenceId: `inf_${String(seq).padStart(4, '0')}`,
    tenant: 'acme',
    task: 'medication-extraction',
    input: { text: 'note' },
    proposal: { medications: [] },
    confidence: 0.5,
    threshold: 0.8,
    scoreBasis: 'logprobs',
    sampled: false,
    provider: 'local-a',
    model: 'm',
    state: 'pending',
    claimedBy: null,
    leaseExpiresAt: null,
    createdAt: minutesAgo(10),
    enqueuedAt: minutesAgo(10),
    dueAt: minutesAgo(-230),
    escalatedAt: null,
    decision: null,
    ...over,
  };
}

const decided = (action: ReviewAction, confidence: number, task = 'medication-extraction') =>
  item({
    task: task as ReviewItem['task'],
    confidence,
    state: action === 'approve' ? 'approved' : action === 'edit' ? 'edited' : 'rejected',
    decision: { action, reviewer: 'rita', reasonCode: null, note: null, output: null, decidedAt: now },
  });

describe('review overview (admin view)', () => {
  it('counts the queue: pending, live claims, escalated, sampled, per task, and the oldest item', () => {
    const health = queueHealth(
      [
        item({ createdAt: minutesAgo(90), escalatedAt: minutesAgo(1) }),
        item({
          state: 'claimed',
          claimedBy: 'rita',
          leaseExpiresAt: minutesAgo(-5),
          task: 'clinical-summary',
        }),
        // A claim whose lease ran out is pending again.
        item({ state: 'claimed', claimedBy: 'victor', leaseExpiresAt: minutesAgo(1), sampled: true }),
      ],
      now,
      false,
    );
    assert.deepEqual(health, {
      undecided: 3,
      pending: 2,
      claimed: 1,
      escalated: 1,
      sampled: 1,
      oldestCreatedAt: minutesAgo(90).toISOString(),
      oldestAgeSeconds: 5_400,
      byTask: { 'medication-extraction': 2, 'clinical-summary': 1 },
      truncated: false,
    });
  });

  it('shares decisions out by confidence band per task, with the thresholds in force', () => {
    const summary = agreementOf(
      [
        decided('approve', 0.55),
        decided('edit', 0.59),
        decided('reject', 0.1),
        decided('approve', 1),
        decided('approve', 0.7, 'icd10-suggestion'),
        item(), // undecided: not counted
      ],
      0.1,
      false,
    );
    assert.equal(summary.decisions, 5);
    assert.deepEqual(
      summary.tasks.map((t) => t.task),
      ['icd10-suggestion', 'medication-extraction'],
    );
    const meds = summary.tasks[1]!;
    assert.equal(meds.bands.length, 10);
    assert.deepEqual(meds.thresholds, [0.8]);
    assert.deepEqual(meds.bands[5], {
      low: 0.5,
      high: 0.6,
      reviewed: 2,
      approved: 1,
      edited: 1,
      rejected: 0,
    });
    assert.deepEqual(meds.bands[1], {
      low: 0.1,
      high: 0.2,
      reviewed: 1,
      approved: 0,
      edited: 0,
      rejected: 1,
    });
    // Confidence 1 falls in the last band, which includes 1.
    assert.deepEqual(meds.bands[9], { low: 0.9, high: 1, reviewed: 1, approved: 1, edited: 0, rejected: 0 });
  });

  it("reads the caller's tenant only, page by page, and says when it stopped at the limit", async () => {
    const queries: ReviewListQuery[] = [];
    const pending = Array.from({ length: 5 }, (_, i) => item({ createdAt: minutesAgo(50 - i) }));
    const service = new ReviewOverviewService({
      store: {
        listItems: async (q) => {
          queries.push(q);
          if (q.states.includes('approved')) return [];
          const start = q.after ? pending.findIndex((p) => p.id === q.after!.id) + 1 : 0;
          return pending.slice(start, start + q.limit);
        },
      },
      providers: { list: async () => [] },
      clock: () => now.getTime(),
      maxItems: 4,
    });
    const overview = await service.overview({ subject: 'ada', tenant: 'acme', roles: ['admin'] });
    assert.equal(overview.queue.undecided, 4);
    assert.equal(overview.queue.truncated, true);
    assert.equal(overview.agreement.truncated, false);
    assert.ok(queries.every((q) => q.tenant === 'acme'));
  });
});
