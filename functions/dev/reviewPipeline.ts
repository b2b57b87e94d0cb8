/**
 * The local stack's review pipeline parts (see `extraParts` in stack.ts), started after the functions:
 *
 * 1. "review Pub/Sub wiring": the review topics and subscriptions in the Pub/Sub emulator, with a push
 *    subscription that delivers review requests to the reviewIntake function, and the review lifecycle
 *    topic with its operators' subscription (reviewTopology.ts).
 * 2. "local scheduler": the stand-ins for Cloud Tasks and Cloud Scheduler in this process:
 *    - a poller that performs due tasks stored by the local task scheduler (deadline checks to reviewJobs,
 *      decision callbacks to callback URLs) every LOCAL_TASKS_POLL_MS, with retries and backoff;
 *    - a cron that calls reviewJobs' outbox sweep every LOCAL_SWEEP_INTERVAL_SECONDS, as Cloud Scheduler does
 *      every minute in production.
 *
 * Both read the same configuration as the functions (config.ts), so topic names, queues and service
 * accounts cannot drift between them.
 */
import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import { devOidcToken } from '../src/adapters/auth/serviceCallerAuthenticator.js';
import { fetchFailure, LocalTaskRunner } from '../src/adapters/tasks/localTaskScheduler.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { reviewJobPaths } from '../src/http/reviewJobsApi.js';
import { ensureReviewTopology } from './reviewTopology.js';
import type { ExtraPart, StackEnv } from './stack.js';

/** Settings of the local parts (docs/local-stack.md: settings of the local stack). */
function localSettings(env: StackEnv) {
  const number = (name: string, fallback: number, min: number) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < min)
      throw new ConfigError(`${name}=${raw}: expected a number >= ${min}`);
    return value;
  };
  return {
    pollMs: number('LOCAL_TASKS_POLL_MS', 500, 50),
    sweepIntervalMs: number('LOCAL_SWEEP_INTERVAL_SECONDS', 10, 1) * 1000,
    // Production's push subscription backs off 10 s to 600 s; locally a failed delivery comes back sooner.
    pushMinBackoffSeconds: number('LOCAL_PUSH_MIN_BACKOFF_SECONDS', 1, 0),
    pushMaxBackoffSeconds: number('LOCAL_PUSH_MAX_BACKOFF_SECONDS', 10, 0),
  };
}

function required(env: StackEnv, name: string): string {
  const value = env[name];
  if (!value) throw new ConfigError(`${name} is not set for the review pipeline parts`);
  return value;
}

export const reviewPubSubWiring: ExtraPart = {
  name: 'review Pub/Sub wiring',
  async start(env) {
    const config = loadConfig(env as NodeJS.ProcessEnv);
    const settings = localSettings(env);
    const intakeUrl = required(env, 'REVIEW_INTAKE_URL');
    // The local stack never runs where a metadata server exists; without this the client probes for one
    // (about a second and a MetadataLookupWarning) before its first call to the emulator.
    process.env.METADATA_SERVER_DETECTION ??= 'none';
    const pubsub = new PubSub({
      projectId: config.project,
      apiEndpoint: required(env, 'PUBSUB_EMULATOR_HOST'),
      emulatorMode: true,
    });
    try {
      await ensureReviewTopology(pubsub, {
        projectId: config.project,
        requestsTopic: config.review.topics.requests,
        deadLetterTopic: config.review.topics.deadLetter,
        escalationsTopic: config.review.topics.escalations,
        eventsTopic: config.review.topics.events,
        intakeSubscription: config.review.intakeSubscription,
        intakeUrl,
        maxDeliveryAttempts: config.review.maxDeliveryAttempts,
        retry: {
          minimumBackoffSeconds: settings.pushMinBackoffSeconds,
          maximumBackoffSeconds: settings.pushMaxBackoffSeconds,
        },
      });
    } finally {
      await pubsub.close();
    }
    return {
      address:
        `${config.review.topics.requests} → push ${config.review.intakeSubscription} → ${intakeUrl}; ` +
        `${config.review.topics.events} (docs/events.md)`,
      stop: async () => undefined,
    };
  },
};

export const localScheduler: ExtraPart = {
  name: 'local scheduler',
  async start(env) {
    const config = loadConfig(env as NodeJS.ProcessEnv);
    if (config.tasks.mode !== 'local') {
      return { address: 'off (TASKS_MODE=cloud)', stop: async () => undefined };
    }
    const settings = localSettings(env);
    const db = new Firestore({
      projectId: config.project,
      host: required(env, 'FIRESTORE_EMULATOR_HOST'),
      ssl: false,
      ignoreUndefinedProperties: true,
    });
    const log = (severity: string, message: string, fields: Record<string, unknown>) =>
      console.log(`[local-scheduler] ${JSON.stringify({ severity, message, ...fields })}`);
    const runner = new LocalTaskRunner(db, { log });
    const poller = runner.start(settings.pollMs);

    const sweepUrl = `${config.tasks.jobsUrl}${reviewJobPaths.sweep}`;
    let sweeping: Promise<void> = Promise.resolve();
    const sweep = async () => {
      try {
        const response = await fetch(sweepUrl, {
          method: 'POST',
          headers: { Authorization: `Bearer ${devOidcToken(config.tasks.schedulerServiceAccount)}` },
          signal: AbortSignal.timeout(60_000),
        });
        const body = await response.text();
        if (!response.ok) {
          log('WARNING', 'outbox sweep answered an error', { status: response.status });
          return;
        }
        const result = JSON.parse(body) as { delivered: number; failed: number };
        if (result.delivered > 0) log('INFO', 'outbox swept', result);
      } catch (e) {
        // No answer (review jobs restarting, or past the deadline): said as a task dispatch says it.
        log('WARNING', 'outbox sweep got no answer from review jobs', { error: fetchFailure(e) });
      }
    };
    const cron = setInterval(() => {
      sweeping = sweeping.then(sweep);
    }, settings.sweepIntervalMs);

    return {
      address: `tasks every ${settings.pollMs} ms, outbox sweep every ${settings.sweepIntervalMs / 1000} s`,
      stop: async () => {
        clearInterval(cron);
        await Promise.all([poller.stop(), sweeping]);
        await db.terminate();
      },
    };
  },
};

export const reviewPipelineParts: readonly ExtraPart[] = [reviewPubSubWiring, localScheduler];
