import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Firestore } from '@google-cloud/firestore';
import type { HttpFunction } from '@google-cloud/functions-framework';
import { type CloudEvent, cloudEvent, http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { PubSub } from '@google-cloud/pubsub';
import supertest from 'supertest';
import { ensureReviewTopology, type ReviewTopology } from '../../functions/dev/reviewTopology.js';
import { devOidcToken } from '../../functions/src/adapters/auth/serviceCallerAuthenticator.js';
import { PubSubReviewPublisher } from '../../functions/src/adapters/pubsub/pubSubReviewPublisher.js';
import { LocalTaskRunner } from '../../functions/src/adapters/tasks/localTaskScheduler.js';
import type { Config } from '../../functions/src/config.js';
import type { AuditSink } from '../../functions/src/core/audit/auditSink.js';
import { type AuditEvent, auditEventSchema } from '../../functions/src/core/audit/events.js';
import type { Clock } from '../../functions/src/core/clock.js';
import type { ReviewPublisher } from '../../functions/src/core/review/reviewPublisher.js';
import { parseReviewRequestEvent } from '../../functions/src/events/reviewIntake.js';
import { createGateway, type Gateway } from '../../functions/src/gateway.js';
import { installProblemFinalHandler } from '../../functions/src/http/frameworkErrors.js';
import { checkAnswersAgainstContract } from './contractHook.js';
import {
  lateBound,
  type ModelServer,
  type ModelServerOptions,
  type ModelServers,
  testConfig,
  withModelsAnd,
} from './gatewayHarness.js';

/**
 * The whole review pipeline under test, as deployed: the four functions registered with the Functions
 * Framework (reviewIntake and reviewJobs on listening test servers, because the Pub/Sub emulator pushes to
 * the one and the local task runner calls the other), the real Pub/Sub topology in the emulator (own topic
 * names per harness), the Firestore emulator, and a local task runner the test drives.
 */

export type ReviewHarness = {
  gateway: Gateway;
  config: Config;
  inference: ReturnType<typeof supertest>;
  reviewer: ReturnType<typeof supertest>;
  jobs: ReturnType<typeof supertest>;
  intake: ReturnType<typeof supertest>;
  /** Where the inference and reviewer functions listen (for clients other than supertest). */
  inferenceUrl: string;
  reviewerUrl: string;
  jobsUrl: string;
  intakeUrl: string;
  topology: ReviewTopology;
  /** A client of the Pub/Sub emulator the pipeline uses. */
  pubsub: PubSub;
  firestore: Firestore;
  /** Every audit event, in order, checked against the schema. */
  audit: AuditEvent[];
  logLines: string[];
  runner: LocalTaskRunner;
  /** Resolves once reviewIntake has taken in (created or found) the review request of `inferenceId`. */
  takenIn(inferenceId: string): Promise<void>;
  /** Every delivery reviewIntake answered, in order: what a test that waits on Pub/Sub reports on failure. */
  deliveries: IntakeDelivery[];
  /** The `Authorization` header the local scheduler sends for the given service account. */
  serviceToken(email?: string): string;
  close(): Promise<void>;
};

export type IntakeDelivery = {
  /** Milliseconds since the harness started. */
  at: number;
  messageId: string;
  attributes: Record<string, string>;
  /** Acknowledged (the function returned) or refused (it threw, so Pub/Sub delivers the message again). */
  acknowledged: boolean;
};

export type ReviewHarnessOptions = {
  models: { a: ModelServer; b: ModelServer };
  env?: Record<string, string>;
  clock?: Clock;
  /** Create the topics and the push subscription (default true). */
  topology?: boolean;
  /** `host:port` of a Pub/Sub emulator other than the root hooks' one. */
  pubsubHost?: string;
  /** Replaces the Pub/Sub publisher (the default publishes to this harness's topics). */
  publisher?: ReviewPublisher;
};

export async function startReviewHarness(options: ReviewHarnessOptions): Promise<ReviewHarness> {
  installProblemFinalHandler();
  const suffix = randomUUID().slice(0, 8);
  const names = {
    inference: `inferenceApi-${suffix}`,
    reviewer: `reviewerApi-${suffix}`,
    jobs: `reviewJobs-${suffix}`,
    intake: `reviewIntake-${suffix}`,
  };

  // The servers must listen before the configuration names their URLs; they delegate once the gateway exists.
  let gateway: Gateway | null = null;
  const taken = new Set<string>();
  const waiting = new Map<string, (() => void)[]>();
  // Every function run in progress. A run can outlive its connection (the emulator drops its push connection
  // when its subscription is deleted), so closing the servers does not wait for it; `close` does, before it
  // terminates the Firestore client the run is still using.
  const running = new Set<Promise<unknown>>();
  const tracked = <T>(run: T): T => {
    if (run instanceof Promise) {
      const settled = run.then(
        () => undefined,
        () => undefined,
      );
      running.add(settled);
      void settled.then(() => running.delete(settled));
    }
    return run;
  };
  const delegate =
    (pick: (g: Gateway) => HttpFunction): HttpFunction =>
    (req, res) =>
      tracked(pick(gateway!)(req, res));
  http(
    names.inference,
    delegate((g) => g.inferenceApi),
  );
  http(
    names.reviewer,
    delegate((g) => g.reviewerApi),
  );
  http(
    names.jobs,
    delegate((g) => g.reviewJobs),
  );
  const startedAt = Date.now();
  const deliveries: IntakeDelivery[] = [];
  const takeIn = async (event: CloudEvent<unknown>) => {
    const message = (event.data as { message?: { messageId?: string; attributes?: Record<string, string> } })
      ?.message;
    const record = (acknowledged: boolean) =>
      deliveries.push({
        at: Date.now() - startedAt,
        messageId: message?.messageId ?? event.id,
        attributes: message?.attributes ?? {},
        acknowledged,
      });
    try {
      await gateway!.reviewIntake(event);
    } catch (error) {
      record(false);
      throw error;
    }
    record(true);
    const { inferenceId } = parseReviewRequestEvent(event);
    taken.add(inferenceId);
    for (const resolve of waiting.get(inferenceId) ?? []) resolve();
    waiting.delete(inferenceId);
  };
  cloudEvent(names.intake, (event: CloudEvent<unknown>) => tracked(takeIn(event)));
  const inferenceServer = await listen(
    checkAnswersAgainstContract(getTestServer(names.inference), 'inference'),
  );
  const reviewerServer = await listen(checkAnswersAgainstContract(getTestServer(names.reviewer), 'reviewer'));
  const jobsServer = await listen(getTestServer(names.jobs));
  const intakeServer = await listen(getTestServer(names.intake));
  const jobsUrl = urlOf(jobsServer);
  const intakeUrl = urlOf(intakeServer);

  const topics = {
    REVIEW_TOPIC: `review-requests-${suffix}`,
    REVIEW_DEAD_LETTER_TOPIC: `review-requests-dead-letter-${suffix}`,
    ESCALATION_TOPIC: `review-escalations-${suffix}`,
    REVIEW_EVENTS_TOPIC: `review-events-${suffix}`,
    REVIEW_INTAKE_SUBSCRIPTION: `review-intake-${suffix}`,
  };
  const config = testConfig(options.models, { ...topics, REVIEW_JOBS_URL: jobsUrl, ...options.env });
  const pubsub = options.pubsubHost
    ? new PubSub({ projectId: config.project, apiEndpoint: options.pubsubHost, emulatorMode: true })
    : new PubSub({ projectId: config.project });
  const firestore = new Firestore({ projectId: config.project, ignoreUndefinedProperties: true });
  const audit: AuditEvent[] = [];
  const sink: AuditSink = {
    write: async (event) => {
      audit.push(auditEventSchema.parse(event));
    },
  };
  const logLines: string[] = [];
  const g = createGateway(config, {
    firestore,
    // Breakers share their state in Firestore by provider name; other tests open `local-a` on purpose.
    // The review pipeline's tests are not about breakers: every provider is admitted.
    breakers: {
      admit: async () => ({ allowed: true as const, state: 'closed' as const, probe: false }),
      recordOutcome: () => undefined,
    },
    audit: sink,
    logWriter: (line) => logLines.push(line),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.publisher
      ? { reviewPublisher: options.publisher }
      : options.pubsubHost
        ? { reviewPublisher: publisherFor(pubsub, config) }
        : {}),
  });
  gateway = g;

  const topology: ReviewTopology = {
    projectId: config.project,
    requestsTopic: config.review.topics.requests,
    deadLetterTopic: config.review.topics.deadLetter,
    escalationsTopic: config.review.topics.escalations,
    eventsTopic: config.review.topics.events,
    intakeSubscription: config.review.intakeSubscription,
    intakeUrl,
    maxDeliveryAttempts: config.review.maxDeliveryAttempts,
    retry: { minimumBackoffSeconds: 0, maximumBackoffSeconds: 1 },
  };
  if (options.topology ?? true) await ensureReviewTopology(pubsub, topology);

  const runner = new LocalTaskRunner(firestore, {
    ...(options.clock ? { clock: options.clock } : {}),
    backoff: { minMs: 1_000, maxMs: 8_000 },
  });

  return {
    gateway: g,
    config,
    inference: supertest(inferenceServer),
    reviewer: supertest(reviewerServer),
    inferenceUrl: urlOf(inferenceServer),
    reviewerUrl: urlOf(reviewerServer),
    jobs: supertest(jobsUrl),
    intake: supertest(intakeUrl),
    jobsUrl,
    intakeUrl,
    topology,
    pubsub,
    firestore,
    audit,
    logLines,
    runner,
    deliveries,
    takenIn: (inferenceId) =>
      taken.has(inferenceId)
        ? Promise.resolve()
        : new Promise<void>((resolve) =>
            waiting.set(inferenceId, [...(waiting.get(inferenceId) ?? []), resolve]),
          ),
    serviceToken: (email = config.tasks.serviceAccount) => `Bearer ${devOidcToken(email)}`,
    close: async () => {
      if (options.topology ?? true) {
        // Stop the emulator pushing leftovers at a server that is going away.
        await pubsub
          .subscription(topology.intakeSubscription)
          .delete({ timeout: 5_000, retry: null })
          .catch(() => undefined);
      }
      await Promise.all([inferenceServer, reviewerServer, jobsServer, intakeServer].map(close));
      await Promise.race([Promise.all(running), sleep(10_000, undefined, { ref: false })]);
      await g.close();
      await pubsub.close();
      await firestore.terminate();
    },
  };
}

export type ReviewStackOptions = ModelServerOptions &
  Omit<ReviewHarnessOptions, 'models' | 'env'> & {
    /** Settings over `testConfig`'s; a function is called in `before`, for values that exist only then. */
    env?: Record<string, string> | (() => Record<string, string>);
  };

/**
 * The set-up of the review suites: two model servers (reset to `behaviour` before each test) and the review
 * pipeline on them, closed after the suite even if a test timed out (see `useSuiteResource`).
 */
export function useReviewStack(options: ReviewStackOptions = {}): { models: ModelServers; h: ReviewHarness } {
  const { models, value } = withModelsAnd(options, (m) => {
    const { behaviour: _, env, ...rest } = options;
    return startReviewHarness({
      ...rest,
      models: m,
      ...(env ? { env: typeof env === 'function' ? env() : env } : {}),
    });
  });
  return { models, h: lateBound(value, 'the review harness') };
}

/** A publisher on `pubsub` (for harnesses whose emulator is not the one the environment names). */
function publisherFor(pubsub: PubSub, config: Config): ReviewPublisher {
  return new PubSubReviewPublisher(
    pubsub,
    {
      requests: config.review.topics.requests,
      escalations: config.review.topics.escalations,
      events: config.review.topics.events,
    },
    { timeoutMs: config.review.publishTimeoutMs },
  );
}

async function listen(server: Server): Promise<Server> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

const urlOf = (server: Server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Inference-API shortcuts shared by the review tests. */
export const clinician = (tenant: string, subject = 'alice') => `Bearer dev:${tenant}:clinician:${subject}`;
export const reviewerOf = (tenant: string, subject = 'rita') => `Bearer dev:${tenant}:reviewer:${subject}`;

/**
 * What Eventarc delivers to the intake for a message of the review-requests topic: a binary-mode CloudEvent.
 * `traceparent`: the delivery's W3C trace context, as Eventarc passes it (`ce-traceparent`).
 */
export function eventarcDelivery(
  h: ReviewHarness,
  message: { inferenceId: string; tenant: string; messageId?: string; traceparent?: string },
) {
  const messageId = message.messageId ?? randomUUID();
  const request = h.intake
    .post('/')
    .set('Content-Type', 'application/json')
    .set('ce-specversion', '1.0')
    .set('ce-id', messageId)
    .set(
      'ce-source',
      `//pubsub.googleapis.com/projects/${h.config.project}/topics/${h.topology.requestsTopic}`,
    )
    .set('ce-type', 'google.cloud.pubsub.topic.v1.messagePublished')
    .set('ce-time', new Date().toISOString());
  if (message.traceparent) request.set('ce-traceparent', message.traceparent);
  const { inferenceId, tenant } = message;
  return request.send({
    message: {
      data: Buffer.from(JSON.stringify({ schemaVersion: 1, inferenceId, tenant })).toString('base64'),
      attributes: { tenant, task: 'medication-extraction' },
      messageId,
      publishTime: new Date().toISOString(),
    },
    subscription: `projects/${h.config.project}/subscriptions/${h.topology.intakeSubscription}`,
  });
}
export function submit(
  h: ReviewHarness,
  tenant: string,
  body: Record<string, unknown> = {},
  key: string = randomUUID(),
) {
  return h.inference
    .post('/v1/inferences')
    .set('Authorization', clinician(tenant))
    .set('Content-Type', 'application/json')
    .set('Idempotency-Key', key)
    .send(
      JSON.stringify({
        task: 'medication-extraction',
        input: { text: 'Patient takes metformin 500 mg PO BID and lisinopril 10 mg daily.' },
        ...body,
      }),
    );
}
