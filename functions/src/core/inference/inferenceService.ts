import { createHash, randomUUID } from 'node:crypto';
import { type AuditTrail, isCommitOutcomeUnknownError } from '../audit/auditTrail.js';
import { type AuditDraft, headOf, hmacHex } from '../audit/chain.js';
import { AUDIT_SCHEMA_VERSION, type AuditEvent, emptyDecision } from '../audit/events.js';
import type { Principal } from '../auth/principal.js';
import { requireRole } from '../auth/principal.js';
import { type Clock, dateClock } from '../clock.js';
import { SCORER_VERSION, scoreResult } from '../confidence.js';
import { isGatewayError, NotFoundError, type ProviderAttempt, RequestInProgressError } from '../errors.js';
import type { Claim, IdempotencyLedger } from '../idempotency/ledger.js';
import type { RequestContext } from '../requestContext.js';
import { type OutboxRelay, outboxEntry } from '../review/outbox.js';
import type { ProviderRouter, RoutedResult } from '../routing/router.js';
import type { RoutingConfig } from '../routing/routes.js';
import { buildPrompt, PROMPT_TEMPLATE_VERSION, type TaskName } from '../tasks.js';
import {
  type InferenceRecord,
  type InferenceResource,
  type InferenceStore,
  toResource,
} from './inference.js';

export type CreateInferenceRequest = {
  task: TaskName;
  input: { text: string };
  patientRef?: string | undefined;
  encounterRef?: string | undefined;
  callbackUrl?: string | undefined;
};

/** What the HTTP layer sends back. `body` is the exact JSON text, so that a replay is byte-identical. */
export type InferenceAnswer = {
  status: 200 | 202;
  body: string;
  inferenceId: string;
  replayed: boolean;
};

export type InferenceServiceDeps = {
  ledger: IdempotencyLedger;
  store: InferenceStore;
  router: ProviderRouter;
  routing: RoutingConfig;
  /** Seals, commits and emits the audit events (see auditTrail.ts). */
  trail: AuditTrail;
  /** Keys the prompt hash (HMAC), so that short notes cannot be recovered by guessing. */
  auditHmacKey: string;
  gatewayVersion: string;
  /** Fraction of confident outputs also sent to review for quality control, chosen per inference id. */
  reviewSampleRate: number;
  /** Delivers the review request recorded with an inference sent to review (never throws). */
  reviewOutbox: Pick<OutboxRelay, 'deliver'>;
  clock?: Clock;
  /** Operational log for failures that must not change the answer (no clinical content). */
  warn?: (message: string, fields?: Record<string, unknown>) => void;
};

export class InferenceService {
  private readonly now: () => Date;

  constructor(private readonly deps: InferenceServiceDeps) {
    this.now = dateClock(deps.clock);
  }

  /**
   * Runs an inference once per (tenant, idempotency key). `fingerprint` identifies the request (method,
   * path, canonical body) so that a different request under the same key is refused.
   */
  async create(
    principal: Principal,
    idempotencyKey: string,
    fingerprint: string,
    request: CreateInferenceRequest,
    ctx: RequestContext,
  ): Promise<InferenceAnswer> {
    requireRole(principal, 'clinician');
    const started = Date.now();
    const outcome = await this.deps.ledger.claim(principal.tenant, idempotencyKey, fingerprint, {
      subject: principal.subject,
      task: request.task,
      patientRef: request.patientRef ?? null,
      encounterRef: request.encounterRef ?? null,
      trace: ctx.trace,
    });
    if (outcome.kind === 'replay') {
      await this.recordReplay(principal, ctx, outcome.inferenceId, request, outcome.response.status);
      return {
        status: outcome.response.status as 200 | 202,
        body: outcome.response.body,
        inferenceId: outcome.inferenceId,
        replayed: true,
      };
    }
    const { claim } = outcome;
    const route = this.deps.routing.tasks[request.task];
    const prompt = buildPrompt(request.task, request.input.text);
    const promptHash = hmacHex(this.deps.auditHmacKey, PROMPT_TEMPLATE_VERSION, prompt.system, prompt.user);

    let routed: RoutedResult;
    try {
      if (!route) throw new Error(`task ${request.task} has no route`);
      routed = await this.deps.router.run(route, prompt);
    } catch (e) {
      await this.fail(claim, principal, ctx, request, promptHash, e, started);
      throw e;
    }

    const score = scoreResult(request.task, routed.result);
    const threshold = route.reviewThreshold;
    const sampled = score.confidence >= threshold && isSampled(claim.inferenceId, this.deps.reviewSampleRate);
    // Below the threshold (or unusable) the output waits for a reviewer: 202. A sampled confident output is
    // answered at once (200, as the contract says for any confident output) and reviewed afterwards.
    const withheld = score.basis === 'invalid_output' || score.confidence < threshold;
    const needsReview = withheld || sampled;
    const now = this.now();
    const record: InferenceRecord = {
      id: claim.inferenceId,
      ledgerRecordId: claim.recordId,
      tenant: principal.tenant,
      requestedBy: principal.subject,
      task: request.task,
      status: withheld ? 'pending_review' : 'completed',
      input: { text: request.input.text },
      patientRef: request.patientRef ?? null,
      encounterRef: request.encounterRef ?? null,
      callbackUrl: request.callbackUrl ?? null,
      output: withheld ? null : score.output,
      proposal: score.output,
      confidence: score.confidence,
      threshold,
      scorerVersion: SCORER_VERSION,
      scoreBasis: score.basis,
      sampledForReview: sampled,
      provider: routed.provider,
      model: routed.model,
      promptTemplateVersion: PROMPT_TEMPLATE_VERSION,
      promptHash,
      attempts: routed.attempts,
      review: needsReview ? { state: 'pending', reviewer: null, reasonCode: null, decidedAt: null } : null,
      reviewRequestedAt: needsReview ? now : null,
      createdAt: now,
      completedAt: withheld ? null : now,
      auditHead: { sequence: 0, hash: '' },
    };
    const status = withheld ? 202 : 200;
    const body = JSON.stringify(toResource(record));
    const event = this.deps.trail.seal(
      this.draft(
        principal,
        ctx,
        record.id,
        withheld ? 'inference.routed_to_review' : 'inference.completed',
        request,
        {
          task: request.task,
          decision: {
            status: record.status,
            httpStatus: status,
            provider: routed.provider,
            model: routed.model,
            modelVersion: routed.result.model || null,
            routing: { attempts: routed.attempts, fallbackTaken: routed.fallbackTaken },
            promptTemplateVersion: PROMPT_TEMPLATE_VERSION,
            promptHash,
            response: score.output,
            confidence: score.confidence,
            threshold,
            scorerVersion: SCORER_VERSION,
            scoreBasis: score.basis,
            sampledForReview: sampled,
            failureReason: null,
            latencyMs: { total: Date.now() - started, provider: providerLatency(routed.attempts) },
          },
        },
      ),
      null,
    );
    record.auditHead = headOf(event);
    const reviewRequest = needsReview ? outboxEntry.reviewRequest(record, now) : null;
    const ledgerRecord = this.deps.ledger.completedRecord(claim, { status, body });
    let unknownOutcome: unknown = null;

    try {
      // One atomic write, no read: the claim's own write time proves it is still ours (see ledger.ts).
      await this.deps.trail.commit(
        record.id,
        async (track) => {
          const sealed = track({ event, result: undefined });
          await this.deps.store.commitCompletion({
            claim,
            ledgerRecord,
            inference: record,
            reviewRequest,
            auditEvent: event,
          });
          return sealed;
        },
        {
          // Conditioned on the claim's write time, so the trail may write it again while its outcome is
          // unknown: a completion the store dropped still lands, unless the key was taken over meanwhile.
          recommit: true,
          ifNeverLanded: (refusal) =>
            this.fail(
              claim,
              principal,
              ctx,
              request,
              promptHash,
              refusal ?? unknownOutcome,
              started,
              routed.attempts,
            ),
        },
      );
    } catch (e) {
      if (isCommitOutcomeUnknownError(e)) {
        // The completion may still land: its event or its failure is recorded once the trail knows which.
        // The claim stays ours until then. Released now, the release could overtake the queued completion
        // (both wait on the same stalled store) and void it, and the retry would call the model again. So
        // a retry meanwhile gets 409; it replays the completion once it lands (the trail writes it again
        // if the store dropped it), and runs anew once the trail finds it never did (`ifNeverLanded`
        // releases the claim) or the lease runs out.
        unknownOutcome = e;
        throw e;
      }
      // The note reached a provider either way: the failure is audited with the calls made. A lost lease
      // means a newer holder owns the key; its answer is the one that counts, and ours is dropped unseen.
      await this.fail(claim, principal, ctx, request, promptHash, e, started, routed.attempts);
      throw isGatewayError(e, 'lease_lost') ? new RequestInProgressError(1) : e;
    }
    // Published before answering (a function's CPU is throttled after its answer), but bounded: if Pub/Sub
    // is slow or down the caller still gets its answer, and the outbox sweeper publishes later.
    if (reviewRequest) await this.deps.reviewOutbox.deliver(reviewRequest);
    return { status, body, inferenceId: record.id, replayed: false };
  }

  /** Reading an inference discloses its output: who read it, and in what state, is audited. */
  async get(
    principal: Principal,
    id: string,
    ctx: RequestContext = { trace: null },
  ): Promise<InferenceResource> {
    requireRole(principal, 'clinician');
    const record = await this.deps.store.getInference(id);
    // Another tenant's inference is indistinguishable from a missing one.
    if (!record || record.tenant !== principal.tenant) throw new NotFoundError('no such inference');
    const resource = toResource(record);
    // Standalone, not chained: a read changes nothing, and chaining it would turn every read into a write.
    const draft = this.draft(principal, ctx, record.id, 'inference.viewed', record, {
      task: record.task,
      decision: {
        ...emptyDecision,
        status: record.status,
        httpStatus: 200,
        provider: record.provider,
        model: record.model,
        confidence: record.confidence,
        threshold: record.threshold,
      },
    });
    await this.deps.trail.record(draft);
    return resource;
  }

  private async fail(
    claim: Claim,
    principal: Principal,
    ctx: RequestContext,
    request: CreateInferenceRequest,
    promptHash: string,
    error: unknown,
    started: number,
    providerAttempts?: readonly ProviderAttempt[],
  ): Promise<void> {
    // A lost lease is someone else's claim now: never released by us.
    if (!isGatewayError(error, 'lease_lost')) {
      try {
        await this.deps.ledger.release(claim);
      } catch {
        // The lease runs out on its own; the next retry takes the key over then.
        this.deps.warn?.('could not release idempotency claim after a failure', {
          inferenceId: claim.inferenceId,
        });
      }
    }
    const attempts = providerAttempts
      ? [...providerAttempts]
      : isGatewayError(error, 'providers_unavailable') || isGatewayError(error, 'input_refused')
        ? [...error.attempts]
        : [];
    // A chain of one: the failed attempt's own inference id is never stored, so nothing follows it.
    const event = this.deps.trail.seal(
      this.draft(principal, ctx, claim.inferenceId, 'inference.failed', request, {
        task: request.task,
        decision: {
          ...emptyDecision,
          status: 'failed',
          routing: { attempts, fallbackTaken: attempts.length > 1 },
          promptTemplateVersion: PROMPT_TEMPLATE_VERSION,
          promptHash,
          failureReason: isGatewayError(error) ? error.kind : 'internal',
          latencyMs: { total: Date.now() - started, provider: providerLatency(attempts) },
        },
      }),
      null,
    );
    await this.deps.trail.emit(event);
  }

  /**
   * A replay hands the stored answer to its caller again: who received it is recorded, before the answer.
   * The event stands alone (sequence null), like a read, rather than joining the inference's chain: a
   * replay changes nothing, and chaining it would make every client retry a transaction on the inference
   * document, so that a burst of retries of one request (the very case replays exist for) contends on one
   * document and turns into 503s. The decision it replays stays chained and anchored in the ledger.
   */
  private async recordReplay(
    principal: Principal,
    ctx: RequestContext,
    inferenceId: string,
    request: CreateInferenceRequest,
    httpStatus: number,
  ): Promise<void> {
    const draft = this.draft(principal, ctx, inferenceId, 'inference.replayed', request, {
      task: request.task,
      decision: { ...emptyDecision, status: 'replayed', httpStatus },
    });
    await this.deps.trail.record(draft);
  }

  private draft(
    principal: Principal,
    ctx: RequestContext,
    inferenceId: string,
    eventType: AuditEvent['eventType'],
    subject: { patientRef?: string | null | undefined; encounterRef?: string | null | undefined },
    parts: Pick<AuditDraft, 'task' | 'decision'>,
  ): AuditDraft {
    return {
      schemaVersion: AUDIT_SCHEMA_VERSION,
      eventId: randomUUID(),
      eventType,
      timestamp: this.now().toISOString(),
      tenant: principal.tenant,
      actor: { subject: principal.subject, tenant: principal.tenant, role: 'clinician' },
      inferenceId,
      patientRef: subject.patientRef ?? null,
      encounterRef: subject.encounterRef ?? null,
      gatewayVersion: this.deps.gatewayVersion,
      trace: ctx.trace,
      review: null,
      breaker: null,
      ...parts,
    };
  }
}

/** Deterministic per inference id, so a re-run of the same inference makes the same sampling choice. */
export function isSampled(inferenceId: string, rate: number): boolean {
  if (rate <= 0) return false;
  if (rate >= 1) return true;
  const bucket = createHash('sha256').update(inferenceId).digest().readUInt32BE(0) / 0x1_0000_0000;
  return bucket < rate;
}

const providerLatency = (attempts: readonly ProviderAttempt[]): number | null =>
  attempts.length === 0 ? null : attempts.reduce((sum, a) => sum + a.latencyMs, 0);
