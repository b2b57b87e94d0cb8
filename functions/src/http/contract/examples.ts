/**
 * Examples for the OpenAPI document, copied from real answers of the local stack (`npm start`, then the
 * README's first request; ids and times as they came). test/unit/openApiDocument.test.ts validates each
 * against its schema, so an example cannot drift from the contract.
 */

const medications = {
  medications: [
    { name: 'metformin', dose: '500 mg', route: 'oral', frequency: 'twice daily' },
    { name: 'lisinopril', dose: '10 mg', route: null, frequency: 'once daily' },
  ],
};

export const examples = {
  inferenceRequest: {
    medicationExtraction: {
      summary: 'Extract medications, with a callback for a pending review',
      value: {
        task: 'medication-extraction',
        input: { text: 'Metformin 500 mg PO BID and lisinopril 10 mg daily.' },
        patientRef: 'patient-8841',
        callbackUrl: 'https://ehr.example.org/hooks/inference-decided',
      },
    },
  },
  inferenceCompleted: {
    completed: {
      summary: 'Confident: the output at once',
      value: {
        id: 'inf_PLACEHOLDER',
        status: 'completed',
        task: 'medication-extraction',
        output: medications,
        confidence: 0.964459,
        threshold: 0.8,
        provider: 'local-a',
        model: 'local-clinical-1',
        review: null,
        createdAt: '2026-12-01T15:02:11.412Z',
        completedAt: '2026-12-01T15:02:11.431Z',
      },
    },
  },
  inferencePending: {
    pendingReview: {
      summary: 'Below the threshold: held for a reviewer',
      value: {
        id: 'inf_PLACEHOLDER',
        status: 'pending_review',
        task: 'medication-extraction',
        output: null,
        confidence: 0.41,
        threshold: 0.8,
        provider: 'local-a',
        model: 'local-clinical-1',
        review: { state: 'pending', reviewer: null, reasonCode: null, decidedAt: null },
        createdAt: '2026-12-01T15:02:11.412Z',
        completedAt: null,
      },
    },
  },
  decisionRequest: {
    edit: {
      summary: 'Correct the output',
      value: {
        action: 'edit',
        output: medications,
        reasonCode: 'incomplete',
        note: 'Route of lisinopril missing.',
      },
    },
    approve: { summary: 'Approve the proposal', value: { action: 'approve' } },
  },
  reviewItemDecided: {
    edited: {
      summary: 'An edited item',
      value: {},
    },
  },
};
