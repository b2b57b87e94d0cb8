/**
 * Examples for the OpenAPI document, copied from real answers of the gateway (the review pipeline on the
 * emulators and the local model server `local-a`: the README's first request at its default confidence, then
 * at 0.41, claimed and edited by reviewer `rita`; the admin overview after two more at 0.41, one rejected,
 * as test/integration/reviewerConsoleHttp.test.ts makes them, the test's tenant written as `acme`).
 * test/unit/openApiDocument.test.ts validates each against its schema, and the linter does too, so an
 * example cannot drift from the contract.
 */

const note = 'Metformin 500 mg PO BID and lisinopril 10 mg daily.';
const metformin = { name: 'metformin', dose: '500 mg', route: 'oral', frequency: 'twice daily' };
/** What `local-a` proposes for the note (it cannot tell lisinopril's route). */
const proposal = {
  medications: [metformin, { name: 'lisinopril', dose: '10 mg', route: null, frequency: 'once daily' }],
};
/** The reviewer's edit: lisinopril is taken by mouth. */
const edited = {
  medications: [metformin, { name: 'lisinopril', dose: '10 mg', route: 'oral', frequency: 'once daily' }],
};
const model = { provider: 'local-a', model: 'local-clinical-1' };

const completed = {
  id: 'inf_koACMAE0QwtbWeu9LJMPSQ',
  status: 'completed',
  task: 'medication-extraction',
  output: proposal,
  confidence: 0.964459,
  threshold: 0.8,
  ...model,
  review: null,
  createdAt: '2026-12-01T14:47:44.375Z',
  completedAt: '2026-12-01T14:47:44.375Z',
};

const pending = {
  id: 'inf_inn_lqoHGhpiuO6L5QI89g',
  status: 'pending_review',
  task: 'medication-extraction',
  output: null,
  confidence: 0.41,
  threshold: 0.8,
  ...model,
  review: { state: 'pending', reviewer: null, reasonCode: null, decidedAt: null },
  createdAt: '2026-12-01T14:47:45.023Z',
  completedAt: null,
};

const decidedAt = '2026-12-01T14:47:46.305Z';

const pendingItem = {
  id: 'rev_inn_lqoHGhpiuO6L5QI89g',
  inferenceId: pending.id,
  task: pending.task,
  input: { text: note },
  output: proposal,
  confidence: pending.confidence,
  threshold: pending.threshold,
  ...model,
  state: 'pending',
  claimedBy: null,
  leaseExpiresAt: null,
  createdAt: pending.createdAt,
  dueAt: '2026-12-01T18:47:45.023Z',
  escalated: false,
  sampled: false,
  decision: null,
};

const editedItem = {
  ...pendingItem,
  state: 'edited',
  claimedBy: 'rita',
  decision: {
    action: 'edit',
    reviewer: 'rita',
    reasonCode: 'incomplete',
    note: 'Lisinopril is taken by mouth.',
    output: edited,
    decidedAt,
  },
};

const afterEdit = {
  ...pending,
  status: 'completed',
  output: edited,
  review: { state: 'edited', reviewer: 'rita', reasonCode: 'incomplete', decidedAt },
  completedAt: decidedAt,
};

const overview = {
  generatedAt: '2026-12-01T15:22:35.312Z',
  providers: [
    { name: 'local-a', state: 'closed', errorRate: 0, requests: 0, openedAt: null },
    { name: 'local-b', state: 'closed', errorRate: 0, requests: 0, openedAt: null },
  ],
  queue: {
    undecided: 1,
    pending: 1,
    claimed: 0,
    escalated: 0,
    sampled: 0,
    oldestCreatedAt: '2026-12-01T15:22:03.970Z',
    oldestAgeSeconds: 1,
    byTask: { 'medication-extraction': 1 },
    truncated: false,
  },
  agreement: {
    bandWidth: 0.1,
    decisions: 1,
    tasks: [
      {
        task: 'medication-extraction',
        thresholds: [0.8],
        reviewed: 1,
        bands: [
          { low: 0, high: 0.1, reviewed: 0, approved: 0, edited: 0, rejected: 0 },
          { low: 0.1, high: 0.2, reviewed: 0, approved: 0, edited: 0, rejected: 0 },
          { low: 0.2, high: 0.3, reviewed: 0, approved: 0, edited: 0, rejected: 0 },
          { low: 0.3, high: 0.4, reviewed: 0, approved: 0, edited: 0, rejected: 0 },
          { low: 0.4, high: 0.5, reviewed: 1, approved: 0, edited: 0, rejected: 1 },
          { low: 0.5, high: 0.6, reviewed: 0, approved: 0, edited: 0, rejected: 0 },
          { low: 0.6, high: 0.7, reviewed: 0, approved: 0, edited: 0, rejected: 0 },
          { low: 0.7, high: 0.8, reviewed: 0, approved: 0, edited: 0, rejected: 0 },
          { low: 0.8, high: 0.9, reviewed: 0, approved: 0, edited: 0, rejected: 0 },
          { low: 0.9, high: 1, reviewed: 0, approved: 0, edited: 0, rejected: 0 },
        ],
      },
    ],
    truncated: false,
  },
};

export const examples = {
  inferenceRequest: {
    medicationExtraction: {
      summary: 'Extract medications',
      value: {
        task: 'medication-extraction',
        input: { text: note },
        patientRef: 'patient-8841',
      },
    },
  },
  inferenceCompleted: { completed: { summary: 'Confident: the output at once', value: completed } },
  inferencePending: {
    pendingReview: { summary: 'Below the threshold: held for a reviewer', value: pending },
  },
  inferenceReviewed: { edited: { summary: 'After a reviewer edited the output', value: afterEdit } },
  reviewList: { pending: { summary: 'One pending item', value: { items: [pendingItem] } } },
  decisionRequest: {
    edit: {
      summary: 'Correct the output',
      value: {
        action: 'edit',
        output: editedItem.decision.output,
        reasonCode: 'incomplete',
        note: 'Lisinopril is taken by mouth.',
      },
    },
    approve: { summary: 'Approve the proposal', value: { action: 'approve' } },
    reject: { summary: 'Withdraw the proposal', value: { action: 'reject', reasonCode: 'unsafe' } },
  },
  reviewItemDecided: { edited: { summary: 'The item after an edit', value: editedItem } },
  me: {
    admin: {
      summary: 'An admin of tenant acme',
      value: { subject: 'ada', tenant: 'acme', roles: ['admin'] },
    },
  },
  reviewOverview: {
    oneDecision: { summary: 'One item waiting, one rejected at confidence 0.41', value: overview },
  },
} as const;
