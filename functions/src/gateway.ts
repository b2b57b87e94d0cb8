import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Firestore } from '@google-cloud/firestore';
import type { CloudEventFunction, HttpFunction, Request } from '@google-cloud/functions-framework';
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
import { createFirestore, withDeadline } from './adapters/firestore/firestoreClient.js';
import { FirestoreInferenceStore } from './adapters/firestore/firestoreInferenceStore.js';
import { FirestoreLedgerStore } from './adapters/firestore/firestoreLedgerStore.js';
import { FirestoreOutboxStore } from './adapters/firestore/firestoreOutboxStore.js';
import { FirestorePendingAuditStore } from './adapters/firestore/firestorePendingAuditStore.js';
import { FirestoreReviewStore } from './adapters/firestore/firestoreReviewStore.js';
import { createLogger, type LineWriter, type Logger } from './adapters/logging/structuredLog.js';
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
import type { ServiceCallerVerifier } from './core/auth/serviceCaller.js';
import { BreakerStatusReader } from './core/breakers/breakerStatusReader.js';
import type { BreakerStore } from './core/breakers/breakerStore.js';
import { SharedBreakerBoard } from './core/breakers/sharedBreakerBoard.js';
import { IdempotencyLedger } from './core/idempotency/ledger.js';
import { InferenceService } from './core/inference/inferenceService.js';
import type { ProviderClient } from './core/providers/provider.js';
import { CallbackDelivery, CallbackOrigins } from './core/review/callbacks.js';
import { OutboxRelay } from './core/review/outbox.js';
import { PublisherCircuit } from './core/review/publisherCircuit.js';
import { ReviewIntake } from './core/review/reviewIntake.js';
import { ReviewOverviewService } from './core/review/reviewOverview.js';
import type { ReviewPublisher } from './core/review/reviewPublisher.js';
import { ReviewRequestReconciler } from './core/review/reviewRequestReconciler.js';
import { ReviewService } from './core/review/reviewService.js';
import { type BreakerBoard, ProviderRouter } from './core/routing/router.js';
import type { TaskScheduler } from './core/scheduling/taskScheduler.js';
import { createReviewIntakeHandler } from './events/reviewIntake.js';
import { outsideRequestDomain } from './http/frameworkDomain.js';
import { createInferenceApi } from './http/inferenceApi.js';
import { createLoadShedder } from './http/loadShedder.js';
import { createReviewerApi } from './http/reviewerApi.js';
import { createReviewJobsApi, reviewJobPaths } from './http/reviewJobsApi.js';

/**
 * The composition root: builds every function's handler from one validated configuration. Nothing here is
 * a module-level singleton; index.ts builds one gateway per process, tests build as many as they need.
 */

export type GatewayOverrides = {
  firestore?: Firestore;
  authenticator?: Authenticator;
  providerClients?: ReadonlyMap<string, ProviderClient>;
  /** Replaces the shared circuit breakers (then `GET /v1/providers` lists none). */
  breakers?: BreakerBoard;
  /** Where the shared breakers keep their state (Firestore by default); tests wrap it to count writes. */
  breakerStore?: BreakerStore;
  audit?: AuditSink;
  /** Where log lines go (stdout by default); tests capture them. */
  logWriter?: LineWriter;
  clock?: () => Date;
  /**
   * Where review requests, escalations and review events go (Pub/Sub on REVIEW_TOPIC / ESCALATION_TOPIC /
   * REVIEW_EVENTS_TOPIC by default).
   */
  reviewPublisher?: ReviewPublisher;
  /** Deadline checks and callbacks (Cloud Tasks or the local scheduler, per TASKS_MODE, by default). */
  taskScheduler?: TaskScheduler;
  /** Who may call reviewJobs (OIDC tokens of TASKS_SERVICE_ACCOUNT / SCHEDULER_SERVICE_ACCOUNT by default). */
  serviceCallers?: ServiceCallerVerifier;
  /** Where the built reviewer console is (functions/lib/console next to the compiled code by default). */
  consoleDir?: string;
};

export type Gateway = {
  inferenceApi: HttpFunction;
  reviewerApi: HttpFunction;
  /** Internal: deadline checks (Cloud Tasks) and the review outbox sweep (Cloud Scheduler). */
  reviewJobs: HttpFunction;
  /** Pub/Sub-triggered: review requests become review items. */
  reviewIntake: CloudEventFunction;
  firestore: Firestore;
  logger: Logger;
  /** The shared circuit breakers (null when `overrides.breakers` replaced them). */
  breakers: SharedBreakerBoard | null;
  /** Stops the breakers' timers (after a last flush), then closes the Firestore client if it made it. */
  close(): Promise<void>;
};

export type GatewayOptions = {
  /** Functions whose parts are built at once rather than on first use (index.ts: the process's target). */
  eager: readonly string[];
};

export function createGateway(
  config: Config,
  overrides: GatewayOverrides = {},
  options: GatewayOptions = { eager: ['inferenceApi'] },
): Gateway {
  const firestore = overrides.firestore ?? createFirestore(config.project);
  const logger = createLogger('gateway', overrides.logWriter);
  const authenticator = overrides.authenticator ?? createAuthenticator(config);
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
  });
  const onUnexpectedError = (error: unknown, req: Request) =>
    logger.error('unexpected error', {
      path: req.path,
      method: req.method,
      // Name and code only: a message may quote data we must not log.
      error: error instanceof Error ? error.name : typeof error,
      code: (error as { code?: unknown } | null)?.code ?? null,
    });
  const review = createReviewParts(config, overrides, {
    firestore,
    logger,
    audit,
    trail,
    pendingAudit,
    authenticator,
    inferenceStore,
    healthy: () => healthy(),
    onUnexpectedError,
  });
  let lastHealth = { at: 0, ok: false };
  const healthy = async () => {
    if (Date.now() - lastHealth.at < 2_000) return lastHealth.ok;
    const ok = await withDeadline(
      firestore,
      () => firestore.collection('health').doc('ping').get(),
      config.firestore.deadlineMs,
      'health check',
    )
      .then(() => true)
      .catch(() => false);
    lastHealth = { at: Date.now(), ok };
    return ok;
  };

  /**
   * The inference side (provider clients with their keys, the shared breakers and their timers, the router,
   * the ledger) is built only in a process that serves inferenceApi: the review functions hold no provider
   * keys and need no breakers. It is built at cold start when FUNCTION_TARGET names inferenceApi (as Cloud
   * Functions sets it), so a bad provider setting fails the start rather than the first request.
   */
  let inferencePart: ReturnType<typeof buildInferencePart> | undefined;
  const inference = () => {
    inferencePart ??= buildInferencePart();
    return inferencePart;
  };
  const buildInferencePart = () => {
    const clients =
      overrides.providerClients ?? createProviderClients(config.routing, { project: config.project });
    const clock = overrides.clock;
    const clockOption = clock ? { clock } : {};
    const sharedBreakers = overrides.breakers
      ? null
      : new SharedBreakerBoard({
          store:
            overrides.breakerStore ?? new FirestoreBreakerStore(firestore, { scope: config.breakers.scope }),
          settings: config.breakers.providers,
          flushMs: config.breakers.flushMs,
          refreshMs: config.breakers.refreshMs,
          shards: config.breakers.shards,
          audit,
          chainKey: config.audit.chainKey,
          gatewayVersion: config.version,
          log: (severity, message, fields) => logger.log(severity, message, fields),
          ...(clock ? { clock: () => clock().getTime() } : {}),
        });
    sharedBreakers?.start();
    const router = new ProviderRouter({ clients, breakers: overrides.breakers ?? sharedBreakers! });
    const ledger = new IdempotencyLedger(
      new FirestoreLedgerStore(firestore, { deadlineMs: config.firestore.deadlineMs }),
      {
        ttlMs: config.idempotency.ttlMs,
        leaseMs: config.idempotency.leaseMs,
        ...clockOption,
      },
    );
    const inferences = new InferenceService({
      ledger,
      store: inferenceStore,
      router,
      routing: config.routing,
      trail,
      auditHmacKey: config.audit.hmacKey,
      gatewayVersion: config.version,
      reviewSampleRate: config.review.sampleRate,
      reviewOutbox: review.outbox,
      warn: (message, fields) => logger.warn(message, fields),
      ...clockOption,
    });
    const inferenceApi = createInferenceApi({
      authenticator,
      inferences,
      providers: { list: async () => (sharedBreakers ? sharedBreakers.list() : []) },
      maxBodyBytes: config.maxBodyBytes,
      allowHttpLoopbackCallbacks: config.env === 'local',
      callbackOrigins: new CallbackOrigins(config.callbacks.allowedOrigins),
      healthy,
      onUnexpectedError,
    });
    return { inferenceApi, sharedBreakers };
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
    reviewJobs: review.reviewJobs,
    reviewIntake: review.reviewIntake,
    firestore,
    logger,
    get breakers() {
      return inference().sharedBreakers;
    },
    close: async () => {
      inferenceShedder.close();
      reviewerShedder.close();
      await inferencePart?.sharedBreakers?.close();
      await review.close();
      await pendingRelease.flush();
      await ownSink?.close();
      if (!overrides.firestore) await firestore.terminate();
    },
  };
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
const CLOUD_TASKS_DISPATCH_DEADLINE_SECONDS = 30;
/**
 * One failed publish opens the review publisher's circuit (the outbox holds the entry); a probe goes out
 * after a second, and the relay's recovery sweep runs as often, so skipped entries follow within seconds.
 */
const PUBLISHER_CIRCUIT = { failureThreshold: 1, probeAfterMs: 1_000 } as const;
/** One callback attempt, well inside the task's dispatch deadline. */
const WEBHOOK_TIMEOUT_MS = 10_000;

/** The human-review pipeline: its services, the reviewer API, the review jobs and the review intake. */
function createReviewParts(
  config: Config,
  overrides: GatewayOverrides,
  shared: {
    firestore: Firestore;
    logger: Logger;
    audit: AuditSink;
    trail: AuditTrail;
    pendingAudit: PendingAuditStore;
    authenticator: Authenticator;
    inferenceStore: FirestoreInferenceStore;
    healthy: () => Promise<boolean>;
    onUnexpectedError: (error: unknown, req: Request) => void;
  },
) {
  const { firestore, logger, trail } = shared;
  const clock = overrides.clock ? { clock: overrides.clock } : {};
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
      ...(overrides.clock ? { clock: () => overrides.clock!().getTime() } : {}),
    },
  );
  const tasksClient =
    overrides.taskScheduler || config.tasks.mode === 'local' ? null : new CloudTasksClient();
  const scheduler =
    overrides.taskScheduler ??
    (tasksClient
      ? new CloudTasksScheduler(tasksClient, {
          project: config.project,
          location: config.tasks.location,
          queues: config.tasks.queues,
          dispatchDeadlineSeconds: CLOUD_TASKS_DISPATCH_DEADLINE_SECONDS,
          requestTimeoutMs: config.review.publishTimeoutMs,
        })
      : new LocalTaskScheduler(firestore, clock));
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
    overrides.serviceCallers ??
    (config.auth.mode === 'dev'
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
        }));

  const overview = new ReviewOverviewService({
    store,
    // The breakers as the inference function shares them, read without taking part in them.
    providers: new BreakerStatusReader({
      store: overrides.breakerStore ?? new FirestoreBreakerStore(firestore, { scope: config.breakers.scope }),
      settings: config.breakers.providers,
      ...(overrides.clock ? { clock: () => overrides.clock!().getTime() } : {}),
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
      consoleDir: overrides.consoleDir ?? fileURLToPath(new URL('./console/', import.meta.url)),
      reviews,
      maxBodyBytes: config.maxBodyBytes,
      healthy: shared.healthy,
      onUnexpectedError: shared.onUnexpectedError,
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
      healthy: shared.healthy,
      onUnexpectedError: shared.onUnexpectedError,
      info: (message, fields) => logger.info(message, fields),
    }),
    reviewIntake: createReviewIntakeHandler({ intake, logger }),
    close: async () => {
      outbox.close();
      await pubsub?.close();
      await tasksClient?.close();
    },
  };
}
