import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Firestore } from '@google-cloud/firestore';
import type { CloudEventFunction, HttpFunction } from '@google-cloud/functions-framework';
import { PubSub } from '@google-cloud/pubsub';
import { CloudTasksClient } from '@google-cloud/tasks';
import { LoggingAuditSink } from './adapters/audit/loggingAuditSink.js';
import { DevAuthenticator } from './adapters/auth/devAuthenticator.js';
import { GoogleIdTokenAuthenticator } from './adapters/auth/googleIdTokenAuthenticator.js';
import { IapJwtAuthenticator } from './adapters/auth/iapJwtAuthenticator.js';
import {
  DevServiceCallerVerifier,
  GoogleServiceCallerVerifier,
} from './adapters/auth/serviceCallerAuthenticator.js';
import { FirestoreBreakerStore } from './adapters/firestore/firestoreBreakerStore.js';
import { createFirestore } from './adapters/firestore/firestoreClient.js';
import { pingFirestore } from './adapters/firestore/firestoreHealth.js';
import { FirestoreInferenceStore } from './adapters/firestore/firestoreInferenceStore.js';
import { FirestoreLedgerStore } from './adapters/firestore/firestoreLedgerStore.js';
import { FirestoreOutboxStore } from './adapters/firestore/firestoreOutboxStore.js';
import { FirestorePendingAuditStore } from './adapters/firestore/firestorePendingAuditStore.js';
import { FirestoreReviewStore } from './adapters/firestore/firestoreReviewStore.js';
import { type LineWriter, StructuredLogger } from './adapters/logging/structuredLog.js';
import { createProviderClients } from './adapters/providers/createProviderClients.js';
import { PubSubReviewPublisher } from './adapters/pubsub/pubSubReviewPublisher.js';
import { CloudTasksScheduler } from './adapters/tasks/cloudTasksScheduler.js';
import { LocalTaskScheduler } from './adapters/tasks/localTaskScheduler.js';
import { StandardWebhookSender } from './adapters/webhooks/standardWebhookSender.js';
import type { Config } from './config.js';
import type { AuditSink } from './core/audit/auditSink.js';
import { AuditTrail } from './core/audit/auditTrail.js';
import {
  AuditRepair,
  DEFAULT_PENDING_RELEASE,
  PendingAuditReleaser,
  type PendingAuditStore,
} from './core/audit/pendingAudit.js';
import type { Authenticator } from './core/auth/principal.js';
import { BreakerStatusReader } from './core/breakers/breakerStatusReader.js';
import type { BreakerStore } from './core/breakers/breakerStore.js';
import { SharedBreakerBoard } from './core/breakers/sharedBreakerBoard.js';
import type { Clock } from './core/clock.js';
import { auditLapsedClaims, LapsedClaimSweep } from './core/idempotency/lapsedClaims.js';
import { IdempotencyLedger, type LapsedClaimAudit } from './core/idempotency/ledger.js';
import { InferenceService } from './core/inference/inferenceService.js';
import { CallbackDelivery, CallbackOrigins } from './core/review/callbacks.js';
import { OutboxRelay } from './core/review/outbox.js';
import { PublisherCircuit } from './core/review/publisherCircuit.js';
import { ReviewIntake } from './core/review/reviewIntake.js';
import { ReviewOverviewService } from './core/review/reviewOverview.js';
import type { ReviewPublisher } from './core/review/reviewPublisher.js';
import { ReviewRequestReconciler } from './core/review/reviewRequestReconciler.js';
import { ReviewService } from './core/review/reviewService.js';
import { type BreakerBoard, ProviderRouter } from './core/routing/router.js';
import { createReviewIntakeHandler } from './events/reviewIntake.js';
import { outsideRequestDomain } from './http/frameworkDomain.js';
import { HealthProbe } from './http/healthProbe.js';
import { createInferenceApi } from './http/inferenceApi.js';
import { createLoadShedder, type LoadShedder } from './http/loadShedder.js';
import { createReviewerApi } from './http/reviewerApi.js';
import { createReviewJobsApi, reviewJobPaths } from './http/reviewJobsApi.js';

/**
 * The composition root: builds every function's handler from one validated configuration, and does nothing
 * else (behaviour lives in the modules it wires). Nothing here is a module-level singleton; index.ts builds
 * one gateway per process, tests build as many as they need.
 */

/**
 * What a test or a benchmark may put in place of what the configuration would build. Each is a seam some
 * suite uses; everything else is always built from the configuration.
 */
export type GatewayOverrides = {
  firestore?: Firestore;
  /** Replaces the shared circuit breakers (then `GET /v1/providers` lists none). */
  breakers?: BreakerBoard;
  /** Where the shared breakers keep their state (Firestore by default); tests wrap it to count writes. */
  breakerStore?: BreakerStore;
  audit?: AuditSink;
  /** Where log lines go (stdout by default); tests capture them. */
  logWriter?: LineWriter;
  /** The time every part reads (leases, deadlines, breaker windows); tests move it by hand. */
  clock?: Clock;
  /**
   * Where review requests, escalations and review events go (Pub/Sub on REVIEW_TOPIC / ESCALATION_TOPIC /
   * REVIEW_EVENTS_TOPIC by default).
   */
  reviewPublisher?: ReviewPublisher;
};

/** The inference side of the gateway: its HTTP function and the shared breakers (null when overridden). */
export type InferenceSide = { inferenceApi: HttpFunction; breakers: SharedBreakerBoard | null };

export type Gateway = {
  inferenceApi: HttpFunction;
  reviewerApi: HttpFunction;
  /**
   * The admission control of each API that sheds load, for the framework hook to run before a request's
   * body is read (index.ts); each API's handler also admits what the hook did not.
   */
  shedders: Readonly<Record<string, LoadShedder | undefined>>;
  /** Internal: deadline checks (Cloud Tasks) and the review outbox sweep (Cloud Scheduler). */
  reviewJobs: HttpFunction;
  /** Pub/Sub-triggered: review requests become review items. */
  reviewIntake: CloudEventFunction;
  firestore: Firestore;
  /** The process's own lines (background work); each function's requests log through their own. */
  logger: StructuredLogger;
  /**
   * The inference side, built by the first call (which starts the breakers' timers): at once in a process
   * that serves inferenceApi (`options.eager`), else on its first request.
   */
  inference(): InferenceSide;
  /** Stops the breakers' timers (after a last flush), then closes the Firestore client if it made it. */
  close(): Promise<void>;
};

export type GatewayOptions = {
  /** Functions whose parts are built at once rather than on first use (index.ts: the process's target). */
  eager: readonly string[];
};

/** How long a `/healthz` answer is reused. */
const HEALTH_CACHE_MS = 2_000;

/** The parts every function shares. */
type Shared = {
  firestore: Firestore;
  logger: StructuredLogger;
  loggerOf: (service: string) => StructuredLogger;
  audit: AuditSink;
  trail: AuditTrail;
  pendingAudit: PendingAuditStore;
  authenticator: Authenticator;
  inferenceStore: FirestoreInferenceStore;
  /** The idempotency ledger's records, and the audit of a claim that lapses (both sides end lapsed claims). */
  ledgerStore: FirestoreLedgerStore;
  lapsedClaims: LapsedClaimAudit;
  healthy: () => Promise<boolean>;
  clock: { clock?: Clock };
};

export function createGateway(
  config: Config,
  overrides: GatewayOverrides = {},
  options: GatewayOptions = { eager: ['inferenceApi'] },
): Gateway {
  const firestore = overrides.firestore ?? createFirestore(config.project);
  const loggerOf = (service: string) =>
    new StructuredLogger({
      service,
      project: config.project,
      ...(overrides.logWriter ? { write: overrides.logWriter } : {}),
    });
  const logger = loggerOf('gateway');
  const ownSink = overrides.audit
    ? null
    : new LoggingAuditSink({
        project: config.project,
        toStdout: config.audit.toStdout,
        file: config.audit.logFile ? resolve(config.audit.logFile) : null,
        ...(overrides.logWriter ? { write: overrides.logWriter } : {}),
      });
  const audit = overrides.audit ?? ownSink!;
  const inferenceStore = new FirestoreInferenceStore(firestore, { deadlineMs: config.firestore.deadlineMs });
  const clock = overrides.clock ? { clock: overrides.clock } : {};
  const health = new HealthProbe(pingFirestore(firestore, config.firestore.deadlineMs), {
    cacheMs: HEALTH_CACHE_MS,
    ...clock,
  });
  const pendingAudit = new FirestorePendingAuditStore(firestore, { deadlineMs: config.firestore.deadlineMs });
  // Emitted events' pending copies go in one batched delete per instance, off the request path.
  const pendingRelease = new PendingAuditReleaser(pendingAudit, {
    ...DEFAULT_PENDING_RELEASE,
    intervalMs: config.audit.pendingReleaseMs,
  });
  const trail = new AuditTrail({
    sink: audit,
    key: config.audit.chainKey,
    heads: inferenceStore,
    pending: pendingRelease,
    // ERROR: a lost audit event is a compliance incident; the log-based metric on it pages (terraform/).
    warn: (message, fields) => logger.error(message, fields),
    info: (message, fields) => logger.info(message, fields),
  });
  const shared: Shared = {
    firestore,
    logger,
    loggerOf,
    audit,
    trail,
    pendingAudit,
    authenticator: createAuthenticator(config),
    inferenceStore,
    ledgerStore: new FirestoreLedgerStore(firestore, { deadlineMs: config.firestore.deadlineMs }),
    lapsedClaims: auditLapsedClaims(trail, { gatewayVersion: config.version, ...clock }),
    healthy: () => health.healthy(),
    clock,
  };
  const review = createReviewSide(config, overrides, shared);

  // The inference side holds the provider keys and the breakers' timers: built only where inferenceApi runs.
  let inferenceSide: InferenceSide | undefined;
  const inference = () => {
    inferenceSide ??= createInferenceSide(config, overrides, shared, review.outbox);
    return inferenceSide;
  };
  if (options.eager.includes('inferenceApi')) inference();
  // Each API sheds its own overload (one per process in production, where each function runs alone).
  const inferenceShedder = createLoadShedder(config.overload);
  const reviewerShedder = createLoadShedder(config.overload);

  return {
    inferenceApi: outsideRequestDomain(
      inferenceShedder.wrap((req, res) => inference().inferenceApi(req, res)),
    ),
    reviewerApi: outsideRequestDomain(reviewerShedder.wrap(review.reviewerApi)),
    shedders: { inferenceApi: inferenceShedder, reviewerApi: reviewerShedder },
    reviewJobs: review.reviewJobs,
    reviewIntake: review.reviewIntake,
    firestore,
    logger,
    inference,
    close: async () => {
      inferenceShedder.close();
      reviewerShedder.close();
      await inferenceSide?.breakers?.close();
      await review.close();
      await pendingRelease.flush();
      await ownSink?.close();
      if (!overrides.firestore) await firestore.terminate();
    },
  };
}

/**
 * The inference side: provider clients with their keys, the shared breakers and their timers, the router, the
 * ledger. Built at cold start where FUNCTION_TARGET names inferenceApi (as Cloud Functions sets it), so a bad
 * provider setting fails the start rather than the first request; the review functions never build it.
 */
function createInferenceSide(
  config: Config,
  overrides: GatewayOverrides,
  shared: Shared,
  reviewOutbox: OutboxRelay,
): InferenceSide {
  const { firestore, logger, clock } = shared;
  const clients = createProviderClients(config.routing, { project: config.project });
  const sharedBreakers = overrides.breakers
    ? null
    : new SharedBreakerBoard({
        store:
          overrides.breakerStore ?? new FirestoreBreakerStore(firestore, { scope: config.breakers.scope }),
        settings: config.breakers.providers,
        flushMs: config.breakers.flushMs,
        refreshMs: config.breakers.refreshMs,
        shards: config.breakers.shards,
        audit: shared.audit,
        chainKey: config.audit.chainKey,
        gatewayVersion: config.version,
        log: (severity, message, fields) => logger.log(severity, message, fields),
        ...clock,
      });
  sharedBreakers?.start();
  const router = new ProviderRouter({ clients, breakers: overrides.breakers ?? sharedBreakers! });
  const ledger = new IdempotencyLedger(shared.ledgerStore, {
    ttlMs: config.idempotency.ttlMs,
    leaseMs: config.idempotency.leaseMs,
    lapsed: shared.lapsedClaims,
    ...clock,
  });
  const inferences = new InferenceService({
    ledger,
    store: shared.inferenceStore,
    router,
    routing: config.routing,
    trail: shared.trail,
    auditHmacKey: config.audit.hmacKey,
    gatewayVersion: config.version,
    reviewSampleRate: config.review.sampleRate,
    reviewOutbox,
    warn: (message, fields) => logger.warn(message, fields),
    ...clock,
  });
  const inferenceApi = createInferenceApi({
    authenticator: shared.authenticator,
    inferences,
    providers: { list: async () => (sharedBreakers ? sharedBreakers.list() : []) },
    maxBodyBytes: config.maxBodyBytes,
    allowHttpLoopbackCallbacks: config.env === 'local',
    callbackOrigins: new CallbackOrigins(config.callbacks.allowedOrigins),
    healthy: shared.healthy,
    logger: shared.loggerOf('inferenceApi'),
  });
  return { inferenceApi, breakers: sharedBreakers };
}

function createAuthenticator(config: Config): Authenticator {
  if (config.auth.mode === 'dev') return new DevAuthenticator();
  return new GoogleIdTokenAuthenticator({
    audience: config.auth.audience,
    principals: config.auth.principals,
  });
}

/** Outbox sweeps: entries per batch, batches per call (Cloud Scheduler calls every minute). */
const SWEEP_BATCH = { batchSize: 200, maxBatches: 5 };
/** Pending audit copies re-emitted per sweep at most: pages of 200, 5 pages. */
const AUDIT_REPAIR_BATCH = { pageSize: 200, maxPages: 5 };
/** Inferences whose review request is re-sent per sweep at most (one transaction each). */
const RECONCILE_LIMIT = 100;
/**
 * Lapsed claims ended per sweep, and how long past its lease a claim is left to a retry of its own (which
 * ends it too, with the same event) before the sweep ends it.
 */
const LAPSED_CLAIMS = { limit: 200, graceMs: 60_000 };
const CLOUD_TASKS_DISPATCH_DEADLINE_SECONDS = 30;
/**
 * One failed publish opens the review publisher's circuit (the outbox holds the entry); a probe goes out
 * after a second, and the relay's recovery sweep runs as often, so skipped entries follow within seconds.
 */
const PUBLISHER_CIRCUIT = { failureThreshold: 1, probeAfterMs: 1_000 } as const;
/** One callback attempt, well inside the task's dispatch deadline. */
const WEBHOOK_TIMEOUT_MS = 10_000;

/** The human-review pipeline: its services, the reviewer API, the review jobs and the review intake. */
function createReviewSide(config: Config, overrides: GatewayOverrides, shared: Shared) {
  const { firestore, logger, trail, clock } = shared;
  const warn = (message: string, fields?: Record<string, unknown>) => logger.warn(message, fields);
  const pubsub = overrides.reviewPublisher ? null : new PubSub({ projectId: config.project });
  // While Pub/Sub fails, answers skip the publish at once and the outbox delivers later (publisherCircuit.ts).
  const publisher = new PublisherCircuit(
    overrides.reviewPublisher ??
      new PubSubReviewPublisher(
        pubsub!,
        {
          requests: config.review.topics.requests,
          escalations: config.review.topics.escalations,
          events: config.review.topics.events,
        },
        { timeoutMs: config.review.publishTimeoutMs },
      ),
    {
      ...PUBLISHER_CIRCUIT,
      timeoutMs: config.review.publishTimeoutMs,
      ...clock,
    },
  );
  const tasksClient = config.tasks.mode === 'local' ? null : new CloudTasksClient();
  const scheduler = tasksClient
    ? new CloudTasksScheduler(tasksClient, {
        project: config.project,
        location: config.tasks.location,
        queues: config.tasks.queues,
        dispatchDeadlineSeconds: CLOUD_TASKS_DISPATCH_DEADLINE_SECONDS,
        requestTimeoutMs: config.review.publishTimeoutMs,
      })
    : new LocalTaskScheduler(firestore, clock);
  const outbox = new OutboxRelay({
    store: new FirestoreOutboxStore(firestore, { deadlineMs: config.firestore.deadlineMs }),
    publisher,
    scheduler,
    callbackJob: {
      url: `${config.tasks.jobsUrl}${reviewJobPaths.callback}`,
      oidc: { serviceAccountEmail: config.tasks.serviceAccount, audience: config.tasks.jobsAudience },
    },
    deliveryTimeoutMs: config.review.publishTimeoutMs,
    recovery: { circuit: publisher, everyMs: PUBLISHER_CIRCUIT.probeAfterMs },
    warn,
    ...clock,
  });
  const store = new FirestoreReviewStore(firestore, { deadlineMs: config.firestore.deadlineMs });
  const reviews = new ReviewService({
    store,
    outbox,
    trail,
    auditHmacKey: config.audit.hmacKey,
    gatewayVersion: config.version,
    leaseMs: config.review.leaseMs,
    warn,
    ...clock,
  });
  const intake = new ReviewIntake({
    store,
    outbox,
    scheduler,
    routing: config.routing,
    trail,
    gatewayVersion: config.version,
    deadlineCheck: {
      url: `${config.tasks.jobsUrl}${reviewJobPaths.deadline}`,
      oidc: { serviceAccountEmail: config.tasks.serviceAccount, audience: config.tasks.jobsAudience },
    },
    warn,
    ...clock,
  });
  const allowedCallers = [config.tasks.serviceAccount, config.tasks.schedulerServiceAccount];
  const serviceCallers =
    config.auth.mode === 'dev'
      ? new DevServiceCallerVerifier(allowedCallers)
      : new GoogleServiceCallerVerifier({
          // The configured audience, or the endpoint URL a token gets when its creator names none.
          audiences: [
            config.tasks.jobsAudience,
            `${config.tasks.jobsUrl}${reviewJobPaths.deadline}`,
            `${config.tasks.jobsUrl}${reviewJobPaths.callback}`,
            `${config.tasks.jobsUrl}${reviewJobPaths.sweep}`,
          ],
          allowedEmails: allowedCallers,
        });

  const overview = new ReviewOverviewService({
    store,
    // The breakers as the inference function shares them, read without taking part in them.
    providers: new BreakerStatusReader({
      store: overrides.breakerStore ?? new FirestoreBreakerStore(firestore, { scope: config.breakers.scope }),
      settings: config.breakers.providers,
      ...clock,
    }),
    ...clock,
  });
  const auth = config.auth;
  const iap =
    config.iap && auth.mode === 'google'
      ? new IapJwtAuthenticator({ audience: config.iap.audience, principals: auth.principals })
      : undefined;

  return {
    outbox,
    reviewerApi: createReviewerApi({
      authenticator: shared.authenticator,
      ...(iap ? { iap } : {}),
      overview,
      consoleDir: fileURLToPath(new URL('./console/', import.meta.url)),
      reviews,
      maxBodyBytes: config.maxBodyBytes,
      healthy: shared.healthy,
      logger: shared.loggerOf('reviewerApi'),
    }),
    reviewJobs: createReviewJobsApi({
      callers: serviceCallers,
      reviews,
      callbacks: new CallbackDelivery({
        inferences: shared.inferenceStore,
        origins: new CallbackOrigins(config.callbacks.allowedOrigins),
        sender: new StandardWebhookSender({
          secrets: config.callbacks.webhookSecrets,
          timeoutMs: WEBHOOK_TIMEOUT_MS,
          ...clock,
        }),
      }),
      outbox,
      sweep: { minAgeMs: config.review.outboxMinAgeMs, ...SWEEP_BATCH },
      reconciler: new ReviewRequestReconciler({
        store,
        trail,
        outbox,
        gatewayVersion: config.version,
        warn,
        ...clock,
      }),
      reconcile: { graceMs: config.review.intakeGraceMs, limit: RECONCILE_LIMIT },
      auditRepair: new AuditRepair({
        store: shared.pendingAudit,
        sink: shared.audit,
        // ERROR, as on the request path: the alert keeps firing while an event is still not in the sink.
        report: (message, fields) => logger.error(message, fields),
        warn: (message, fields) => logger.error(message, fields),
        ...clock,
      }),
      repair: { graceMs: config.audit.pendingGraceMs, ...AUDIT_REPAIR_BATCH },
      lapsedClaims: new LapsedClaimSweep({ store: shared.ledgerStore, audit: shared.lapsedClaims, ...clock }),
      lapsed: LAPSED_CLAIMS,
      healthy: shared.healthy,
      logger: shared.loggerOf('reviewJobs'),
    }),
    reviewIntake: createReviewIntakeHandler({ intake, logger: shared.loggerOf('reviewIntake') }),
    close: async () => {
      outbox.close();
      await pubsub?.close();
      await tasksClient?.close();
    },
  };
}
