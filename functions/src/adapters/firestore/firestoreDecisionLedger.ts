import { FieldPath, type Firestore, type QueryDocumentSnapshot, Timestamp } from '@google-cloud/firestore';
import type { TimeRange } from '../../core/audit/auditQuery.js';
import type { ChainHead } from '../../core/audit/chain.js';
import type { DecisionLedger, LedgerDecision } from '../../core/audit/completeness.js';
import { collections } from './firestoreClient.js';

const statuses = ['completed', 'pending_review', 'rejected'] as const;
const reviewStates = ['pending', 'approved', 'edited', 'rejected'] as const;

/**
 * The decisions recorded in the `inferences` collection, for the completeness check. Reads only the
 * fields it needs (never the input text or outputs), a page at a time, ordered by creation time. The
 * tenant filter is applied here rather than in the query, so no composite index is needed.
 */
export class FirestoreDecisionLedger implements DecisionLedger {
  constructor(
    private readonly db: Firestore,
    private readonly pageSize = 1_000,
  ) {}

  async *decisionsCreatedBetween(
    range: TimeRange,
    options: { tenant?: string } = {},
  ): AsyncIterable<LedgerDecision[]> {
    const base = this.db
      .collection(collections.inferences)
      .where('createdAt', '>=', Timestamp.fromDate(range.from))
      .where('createdAt', '<', Timestamp.fromDate(range.to))
      .orderBy('createdAt')
      .orderBy(FieldPath.documentId())
      .select('tenant', 'status', 'createdAt', 'review', 'sampledForReview', 'auditHead')
      .limit(this.pageSize);
    let last: QueryDocumentSnapshot | undefined;
    for (;;) {
      const snap = await (last ? base.startAfter(last) : base).get();
      if (snap.empty) return;
      last = snap.docs[snap.docs.length - 1];
      const page = snap.docs.map(toDecision).filter((d) => !options.tenant || d.tenant === options.tenant);
      if (page.length > 0) yield page;
      if (snap.size < this.pageSize) return;
    }
  }
}

function toDecision(doc: QueryDocumentSnapshot): LedgerDecision {
  const status = doc.get('status') as unknown;
  const review = doc.get('review') as { state?: unknown } | null | undefined;
  const head = doc.get('auditHead') as Partial<ChainHead> | undefined;
  const createdAt = doc.get('createdAt') as Timestamp;
  return {
    inferenceId: doc.id,
    tenant: String(doc.get('tenant')),
    // An unknown status is still a decision to account for; treat it as the strictest known one.
    status: statuses.find((s) => s === status) ?? 'completed',
    createdAt: createdAt.toDate(),
    reviewState: review ? (reviewStates.find((s) => s === review.state) ?? 'pending') : null,
    sampledForReview: doc.get('sampledForReview') === true,
    auditHead:
      head && typeof head.sequence === 'number' && typeof head.hash === 'string'
        ? { sequence: head.sequence, hash: head.hash }
        : null,
  };
}
