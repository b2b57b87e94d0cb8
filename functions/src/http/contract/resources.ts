import { z } from 'zod';
import { roles } from '../../core/auth/principal.js';
import { breakerStateKinds } from '../../core/breakers/breakerState.js';
import {
  inferenceIdPattern,
  reasonCodes,
  reviewActions,
  reviewIdPattern,
  reviewItemStates,
} from '../../core/review/reviewItem.js';
import { taskNames, taskOutputSchemas } from '../../core/tasks.js';

/**
 * The response schemas of the HTTP contract, as the OpenAPI document publishes them. Objects are strict: the
 * shared test harness validates every answer of the integration tests against the document, so a field the
 * code sends but the contract does not name fails a test.
 */

const time = z.iso.datetime().meta({ id: 'Timestamp', description: 'RFC 3339, UTC.' });
const score = z.number().min(0).max(1);

export const inferenceIdSchema = z
  .string()
  .regex(inferenceIdPattern)
  .meta({ id: 'InferenceId', example: 'inf_0c6f3f1e5b8a4d2c9e7a1b3d5f7a9c1e' });
export const reviewIdSchema = z
  .string()
  .regex(reviewIdPattern)
  .meta({ id: 'ReviewId', example: 'rev_0c6f3f1e5b8a4d2c9e7a1b3d5f7a9c1e' });

export const taskNameSchema = z.enum(taskNames).meta({ id: 'TaskName' });

/** The output of each task, exactly as `core/tasks.ts` checks a model's answer. */
export const taskOutputSchema = z
  .union([
    taskOutputSchemas['medication-extraction'].meta({ id: 'MedicationExtractionOutput' }),
    taskOutputSchemas['clinical-summary'].meta({ id: 'ClinicalSummaryOutput' }),
    taskOutputSchemas['icd10-suggestion'].meta({ id: 'Icd10SuggestionOutput' }),
  ])
  .meta({ id: 'TaskOutput', description: "The task's output; its shape depends on `task`." });

export const inferenceStatuses = ['completed', 'pending_review', 'rejected'] as const;
export const inferenceReviewStates = ['pending', 'approved', 'edited', 'rejected'] as const;

export const inferenceReviewSchema = z
  .strictObject({
    state: z.enum(inferenceReviewStates),
    reviewer: z.string().nullable().meta({ description: 'The deciding reviewer (subject), once decided.' }),
    reasonCode: z.enum(reasonCodes).nullable(),
    decidedAt: time.nullable(),
  })
  .meta({ id: 'InferenceReview' });

export const inferenceSchema = z
  .strictObject({
    id: inferenceIdSchema,
    status: z.enum(inferenceStatuses),
    task: taskNameSchema,
    output: taskOutputSchema.nullable().meta({ description: 'Null while pending review and once rejected.' }),
    confidence: score,
    threshold: score.meta({ description: "The task's review threshold." }),
    provider: z.string(),
    model: z.string(),
    review: inferenceReviewSchema
      .nullable()
      .meta({ description: 'Null unless the inference was sent to review.' }),
    createdAt: time,
    completedAt: time.nullable(),
  })
  .meta({ id: 'Inference', description: 'The inference resource.' });

export const reviewDecisionViewSchema = z
  .strictObject({
    action: z.enum(reviewActions),
    output: taskOutputSchema.nullable().meta({ description: 'The edited output for `edit`, else null.' }),
    reasonCode: z.enum(reasonCodes).nullable(),
    note: z.string().nullable(),
    reviewer: z.string(),
    decidedAt: time,
  })
  .meta({ id: 'ReviewDecision' });

export const reviewItemSchema = z
  .strictObject({
    id: reviewIdSchema,
    inferenceId: inferenceIdSchema,
    task: taskNameSchema,
    input: z.strictObject({ text: z.string() }),
    output: taskOutputSchema.nullable().meta({ description: "The model's proposal." }),
    confidence: score,
    threshold: score,
    provider: z.string(),
    model: z.string(),
    state: z
      .enum(reviewItemStates)
      .meta({ description: 'A claim whose lease ran out is shown, and can be claimed, as `pending`.' }),
    claimedBy: z.string().nullable(),
    leaseExpiresAt: time.nullable(),
    escalated: z.boolean().meta({
      description: 'True once its due time passed without a decision (never decided by the system).',
    }),
    sampled: z.boolean().meta({
      description: 'True for a confident output reviewed for quality control (already answered 200).',
    }),
    decision: reviewDecisionViewSchema.nullable().meta({ description: 'Null until decided.' }),
    createdAt: time,
    dueAt: time,
  })
  .meta({ id: 'ReviewItem' });

export const reviewListSchema = z
  .strictObject({ items: z.array(reviewItemSchema) })
  .meta({ id: 'ReviewList', description: 'Oldest first.' });

const providerBreakerSchema = z
  .strictObject({
    name: z.string(),
    state: z.enum(breakerStateKinds),
    errorRate: score,
    requests: z.int().min(0),
    openedAt: time.nullable(),
  })
  .meta({ id: 'ProviderBreaker' });

export const providerListSchema = z
  .strictObject({ providers: z.array(providerBreakerSchema) })
  .meta({ id: 'ProviderList', description: 'The breaker of each provider as every instance sees it.' });

export const meSchema = z
  .strictObject({
    subject: z.string().meta({ description: 'The signed-in person (the email, behind IAP).' }),
    tenant: z.string(),
    roles: z.array(z.enum(roles)),
  })
  .meta({ id: 'Me', description: 'The caller, as the gateway authenticated and mapped them.' });

const count = z.int().min(0);

const queueHealthSchema = z
  .strictObject({
    undecided: count.meta({ description: 'Items not yet decided (pending or claimed).' }),
    pending: count,
    claimed: count,
    escalated: count,
    sampled: count,
    oldestCreatedAt: time.nullable(),
    oldestAgeSeconds: count.nullable(),
    byTask: z.partialRecord(taskNameSchema, count).meta({ description: 'Undecided items per task.' }),
    truncated: z.boolean().meta({
      description: 'True when the queue is longer than the scan limit: the counts are lower bounds.',
    }),
  })
  .meta({ id: 'QueueHealth' });

const agreementBandSchema = z
  .strictObject({
    low: score,
    high: score.meta({ description: 'Exclusive, except that the last band includes 1.' }),
    reviewed: count,
    approved: count,
    edited: count,
    rejected: count,
  })
  .meta({ id: 'AgreementBand', description: 'Decisions on items whose confidence is in `[low, high)`.' });

const agreementSchema = z
  .strictObject({
    bandWidth: score,
    decisions: count,
    tasks: z.array(
      z
        .strictObject({
          task: taskNameSchema,
          thresholds: z.array(score).meta({ description: 'The thresholds in force for these decisions.' }),
          reviewed: count,
          bands: z.array(agreementBandSchema),
        })
        .meta({ id: 'TaskAgreement' }),
    ),
    truncated: z.boolean().meta({
      description: 'True when there were more decisions than the scan limit: the oldest ones were counted.',
    }),
  })
  .meta({
    id: 'AgreementSummary',
    description: 'How reviewers decided, per task and confidence band: approve, edit or reject.',
  });

export const reviewOverviewSchema = z
  .strictObject({
    generatedAt: time,
    providers: z.array(providerBreakerSchema),
    queue: queueHealthSchema,
    agreement: agreementSchema,
  })
  .meta({
    id: 'ReviewOverview',
    description: "The admin view's figures, for the caller's tenant only, computed from its review items.",
  });

export const healthSchema = z.strictObject({ status: z.enum(['ok', 'unavailable']) }).meta({ id: 'Health' });

export const fieldProblemSchema = z
  .strictObject({
    path: z
      .string()
      .meta({ description: 'The field, dotted; `header:NAME` for a header, `(root)` for the whole.' }),
    message: z.string(),
  })
  .meta({ id: 'FieldProblem' });
