import { z } from 'zod';
import { type ChainKey, DEV_CHAIN_KEY } from './core/audit/chain.js';
import {
  type BreakerDefaults,
  type BreakerOverrides,
  breakerSettingsFor,
} from './core/breakers/breakerSettings.js';
import type { BreakerSettings } from './core/breakers/breakerState.js';
import {
  COMMIT_MARGIN_MS,
  type RouteStep,
  type RoutingConfig,
  type TaskRoute,
  worstCaseMs,
} from './core/routing/routes.js';

/**
 * The gateway's settings, parsed once from the environment at cold start. A bad setting fails the start
 * with a message naming the variable. Every variable is listed, with its default, in the README.
 */

/** Per-provider breaker settings; each one left out takes the BREAKER_* environment default. */
const breakerOverrideSchema = z.strictObject({
  windowSeconds: z.number().int().min(6).max(3_600).optional(),
  errorRate: z.number().gt(0).lt(1).optional(),
  minFailures: z.number().int().positive().optional(),
  minWindowSeconds: z.number().int().min(0).max(3_600).optional(),
  slowCallMs: z.number().int().positive().optional(),
  largeInputChars: z.number().int().positive().optional(),
  openSeconds: z.number().int().positive().max(3_600).optional(),
  halfOpenProbes: z.number().int().positive().max(100).optional(),
}) satisfies z.ZodType<BreakerOverrides>;

/**
 * API keys: `apiKeyEnv` names the environment variable that holds the key. In production Terraform mounts a
 * Secret Manager secret into that variable (a secret environment variable; see the Terraform variable
 * `provider_api_key_secrets`), so the function itself never calls Secret Manager; locally the variable is
 * set by hand. Google providers need no key: they use the function's service account.
 */
const providerSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('openai-compatible'),
    baseUrl: z.url(),
    apiKeyEnv: z.string().optional(),
    breaker: breakerOverrideSchema.optional(),
  }),
  z.object({
    kind: z.literal('vertex-gemini'),
    /** Defaults to GOOGLE_CLOUD_PROJECT. */
    project: z.string().optional(),
    location: z.string().default('us-central1'),
    /** Overrides the Vertex AI endpoint (used by tests that run the SDK against a local server). */
    baseUrl: z.url().optional(),
    maxOutputTokens: z.number().int().positive().default(8_192),
    breaker: breakerOverrideSchema.optional(),
  }),
  z.object({
    kind: z.literal('anthropic'),
    /** `direct` uses the Anthropic API with a key; `vertex` uses Claude on Vertex AI with ADC. */
    mode: z.enum(['direct', 'vertex']).default('direct'),
    baseUrl: z.url().optional(),
    apiKeyEnv: z.string().optional(),
    /** Vertex mode: defaults to GOOGLE_CLOUD_PROJECT; `location` is required (e.g. us-east5, global). */
    project: z.string().optional(),
    location: z.string().optional(),
    maxOutputTokens: z.number().int().positive().default(8_192),
    breaker: breakerOverrideSchema.optional(),
  }),
]);
export type ProviderConfig = z.infer<typeof providerSchema>;

const routeStepSchema = z.object({
  provider: z.string().min(1),
  model: z.string().min(1),
  timeoutMs: z.number().int().positive().max(60_000).default(10_000),
}) satisfies z.ZodType<RouteStep>;

const taskRouteSchema = z.object({
  /** Ordered provider chain: primary first, then fallbacks. */
  chain: z.array(routeStepSchema).min(1),
  /** Outputs scoring below this go to a clinical reviewer. */
  reviewThreshold: z.number().min(0).max(1).default(0.8),
  /** How long a reviewer has to decide before the item is escalated. */
  reviewSlaMinutes: z.number().positive().default(240),
}) satisfies z.ZodType<TaskRoute>;

export const routingSchema = z.object({
  /** Provider names appear in Firestore document ids, logs and metrics: a plain, short identifier. */
  providers: z.record(
    z.string().regex(/^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$/, 'provider names are letters, digits, "." and "-"'),
    providerSchema,
  ),
  tasks: z.record(z.string(), taskRouteSchema),
}) satisfies z.ZodType<RoutingConfig<{ breaker?: BreakerOverrides | undefined }>>;
/** The routing as configured: the core's view of it, with how each provider is reached (for the adapters). */
export type ProviderRouting = RoutingConfig<ProviderConfig>;

const principalSchema = z.object({
  tenant: z.string().min(1),
  roles: z.array(z.enum(['clinician', 'reviewer', 'admin'])).min(1),
});

/** Pub/Sub topic and subscription ids. */
const pubsubName = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9._~+%-]{2,254}$/, 'must be a Pub/Sub topic or subscription id');

const boolish = z
  .enum(['true', 'false', '1', '0'])
  .transform((v) => v === 'true' || v === '1')
  .pipe(z.boolean());

/** A variable holding JSON, parsed and then checked against `schema`. */
export const jsonString = <T extends z.ZodType>(schema: T) =>
  z
    .string()
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'is not valid JSON' });
        return z.NEVER;
      }
    })
    .pipe(schema);

/**
 * Verified emails are compared lower-cased (Google may return any case the account was created with), so the
 * directory's keys are lower-cased too; two keys that differ only in case would make the winner an accident.
 */
function lowerCaseEmails<T>(principals: Record<string, T>, ctx: z.RefinementCtx): Record<string, T> {
  const lowered: Record<string, T> = {};
  for (const [email, entry] of Object.entries(principals)) {
    const key = email.trim().toLowerCase();
    if (key in lowered)
      ctx.addIssue({ code: 'custom', message: `${key} is listed twice (emails ignore case)` });
    lowered[key] = entry;
  }
  return lowered;
}

function localRouting(env: NodeJS.ProcessEnv): ProviderRouting {
  const a = env.LOCAL_A_URL ?? `http://127.0.0.1:${env.LOCAL_A_PORT ?? '8090'}/v1`;
  const b = env.LOCAL_B_URL ?? `http://127.0.0.1:${env.LOCAL_B_PORT ?? '8091'}/v1`;
  const chain = [
    { provider: 'local-a', model: 'local-clinical-1', timeoutMs: 2_000 },
    { provider: 'local-b', model: 'local-clinical-1', timeoutMs: 2_000 },
  ];
  return {
    providers: {
      'local-a': { kind: 'openai-compatible', baseUrl: a },
      'local-b': { kind: 'openai-compatible', baseUrl: b },
    },
    tasks: {
      'medication-extraction': { chain, reviewThreshold: 0.8, reviewSlaMinutes: 240 },
      'clinical-summary': { chain, reviewThreshold: 0.8, reviewSlaMinutes: 240 },
      'icd10-suggestion': { chain, reviewThreshold: 0.8, reviewSlaMinutes: 240 },
    },
  };
}

/**
 * Callback origins per tenant: `{ "st-marys": ["https://ehr.st-marys.example"] }`. Each entry is an origin
 * (scheme, host, port; no path), kept in its WHATWG serialisation so that comparing it with a URL's
 * `origin` is exact. Plain http is for local development only (loopback hosts; refused on Cloud Run).
 */
const callbackOriginsSchema = z.record(
  z.string().min(1),
  z.array(
    z.string().transform((value, ctx) => {
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        ctx.addIssue({ code: 'custom', message: `${value} is not a URL` });
        return z.NEVER;
      }
      const bare = url.pathname === '/' && !url.search && !url.hash && !url.username && !url.password;
      if (!bare || !/^https?:$/.test(url.protocol)) {
        ctx.addIssue({
          code: 'custom',
          message: `${value} is not an origin such as https://ehr.example.org`,
        });
        return z.NEVER;
      }
      return url.origin;
    }),
  ),
);

/**
 * Standard Webhooks signing secrets per tenant: `whsec_` and the base64 of 24 to 64 random bytes (the
 * scheme's recommendation), as receivers' libraries expect them.
 */
const webhookSecretSchema = z
  .string()
  .regex(/^whsec_[A-Za-z0-9+/]+={0,2}$/, 'must be whsec_ followed by base64')
  .refine((secret) => {
    const bytes = Buffer.from(secret.slice('whsec_'.length), 'base64').length;
    return bytes >= 24 && bytes <= 64;
  }, 'must hold 24 to 64 bytes');

/** The contract's limit on a request body (256 KiB); the framework's body parsers use it too. */
export const DEFAULT_MAX_BODY_BYTES = 256 * 1024;

const envSchema = z.object({
  GATEWAY_ENV: z.enum(['local', 'production']).default('local'),
  GATEWAY_VERSION: z.string().default(process.env.npm_package_version ?? '0.1.0'),
  GOOGLE_CLOUD_PROJECT: z.string().default('demo-clinical-gateway'),
  AUTH_MODE: z.enum(['dev', 'google']).optional(),
  AUTH_AUDIENCE: z.string().optional(),
  AUTH_PRINCIPALS: jsonString(z.record(z.string(), principalSchema)).transform(lowerCaseEmails).optional(),
  /** The audience of the IAP-signed header the reviewer console's requests carry (reviewer function). */
  IAP_AUDIENCE: z
    .string()
    .regex(
      /^\/projects\/[0-9]+\/(global\/backendServices\/[0-9]+|locations\/[a-z0-9-]+\/services\/[a-z][a-z0-9-]{0,62})$/,
      'must be /projects/<number>/global/backendServices/<id> or /projects/<number>/locations/<region>/services/<name>',
    )
    .optional(),
  IDEMPOTENCY_TTL_HOURS: z.coerce.number().positive().default(24),
  IDEMPOTENCY_LEASE_SECONDS: z.coerce.number().positive().default(30),
  ROUTING_CONFIG: jsonString(routingSchema).optional(),
  CALLBACK_ALLOWED_ORIGINS: jsonString(callbackOriginsSchema).optional(),
  WEBHOOK_SECRETS: jsonString(z.record(z.string().min(1), webhookSecretSchema)).optional(),
  MAX_BODY_BYTES: z.coerce.number().int().positive().default(DEFAULT_MAX_BODY_BYTES),
  AUDIT_LOG_FILE: z.string().optional(),
  AUDIT_HMAC_KEY: z.string().min(16).optional(),
  AUDIT_CHAIN_KEY: z.string().min(32, 'must be at least 32 characters').optional(),
  AUDIT_CHAIN_KEY_ID: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, ".", "_" and "-", at most 64')
    .optional(),
  FIRESTORE_DEADLINE_MS: z.coerce.number().int().min(100).max(60_000).default(2_000),
  MAX_CONCURRENT_REQUESTS: z.coerce.number().int().min(1).max(1_000).default(80),
  OVERLOAD_EVENT_LOOP_LAG_MS: z.coerce.number().int().min(10).max(10_000).default(500),
  AUDIT_TO_STDOUT: boolish.default(true),
  REVIEW_SAMPLE_RATE: z.coerce.number().min(0).max(1).default(0),
  REVIEW_LEASE_SECONDS: z.coerce.number().int().min(30).max(86_400).default(600),
  REVIEW_TOPIC: pubsubName.default('review-requests'),
  REVIEW_DEAD_LETTER_TOPIC: pubsubName.default('review-requests-dead-letter'),
  REVIEW_INTAKE_SUBSCRIPTION: pubsubName.default('review-intake'),
  REVIEW_MAX_DELIVERY_ATTEMPTS: z.coerce.number().int().min(5).max(100).default(5),
  ESCALATION_TOPIC: pubsubName.default('review-escalations'),
  REVIEW_EVENTS_TOPIC: pubsubName.default('review-events'),
  REVIEW_PUBLISH_TIMEOUT_MS: z.coerce.number().int().min(100).max(30_000).default(1_500),
  REVIEW_OUTBOX_MIN_AGE_SECONDS: z.coerce.number().int().min(0).max(3_600).default(5),
  TASKS_MODE: z.enum(['cloud', 'local']).optional(),
  TASKS_LOCATION: z
    .string()
    .regex(/^[a-z]+-[a-z]+[0-9]$/, 'must be a region such as us-central1')
    .default('us-central1'),
  DEADLINE_QUEUE: z
    .string()
    .regex(/^[A-Za-z0-9-]{1,100}$/)
    .default('review-deadlines'),
  CALLBACK_QUEUE: z
    .string()
    .regex(/^[A-Za-z0-9-]{1,100}$/)
    .default('review-callbacks'),
  REVIEW_JOBS_URL: z.url().optional(),
  JOBS_AUDIENCE: z.string().min(1).optional(),
  TASKS_SERVICE_ACCOUNT: z.email().optional(),
  SCHEDULER_SERVICE_ACCOUNT: z.email().optional(),
  BREAKER_WINDOW_SECONDS: z.coerce.number().int().min(6).max(3_600).default(60),
  BREAKER_ERROR_RATE: z.coerce.number().gt(0).lt(1).default(0.05),
  /** Replaced by BREAKER_MIN_FAILURES and BREAKER_MIN_WINDOW_SECONDS: a leftover setting fails the start. */
  BREAKER_MIN_REQUESTS: z
    .undefined({
      error: 'no longer used: the trip rule is BREAKER_MIN_FAILURES and BREAKER_MIN_WINDOW_SECONDS',
    })
    .optional(),
  BREAKER_MIN_FAILURES: z.coerce.number().int().positive().default(5),
  BREAKER_MIN_WINDOW_SECONDS: z.coerce.number().int().min(0).max(3_600).default(10),
  BREAKER_SLOW_CALL_MS: z.coerce.number().int().positive().default(8_000),
  BREAKER_LARGE_INPUT_CHARS: z.coerce.number().int().positive().default(20_000),
  BREAKER_OPEN_SECONDS: z.coerce.number().int().positive().max(3_600).default(30),
  BREAKER_HALF_OPEN_PROBES: z.coerce.number().int().positive().max(100).default(3),
  BREAKER_FLUSH_MS: z.coerce.number().int().min(100).default(5_000),
  BREAKER_REFRESH_MS: z.coerce.number().int().min(100).default(2_000),
  BREAKER_BUCKET_SHARDS: z.coerce.number().int().min(1).max(100).default(8),
  BREAKER_SCOPE: z
    .string()
    .regex(/^[A-Za-z0-9-]{0,40}$/, 'letters, digits and "-", at most 40')
    .default(''),
});

export type Config = Readonly<{
  env: 'local' | 'production';
  version: string;
  project: string;
  auth:
    | { mode: 'dev' }
    | { mode: 'google'; audience: string; principals: Record<string, z.infer<typeof principalSchema>> };
  idempotency: { ttlMs: number; leaseMs: number };
  /** Identity-Aware Proxy in front of the reviewer console: the audience its signed header must carry. */
  iap: { audience: string } | null;
  /**
   * How long one Firestore call on the request path may take before the request is answered 503 with
   * Retry-After (the SDK's own deadline is 60 s, far past any caller's patience).
   */
  firestore: { deadlineMs: number };
  maxBodyBytes: number;
  callbacks: CallbackConfig;
  routing: ProviderRouting;
  audit: { logFile: string | null; hmacKey: string; chainKey: ChainKey; toStdout: boolean };
  /**
   * When an instance sheds new requests: at this many requests in flight (the function's configured
   * concurrency), or once its event loop lags this far behind.
   */
  overload: { maxConcurrent: number; maxEventLoopLagMs: number };
  review: ReviewConfig;
  tasks: TasksConfig;
  breakers: BreakerConfig;
}>;

export type CallbackConfig = {
  /** Origins each tenant's callbacks may go to; a tenant not listed gets no callbacks. */
  allowedOrigins: Readonly<Record<string, readonly string[]>>;
  /** Standard Webhooks secret (`whsec_…`) per tenant; only the review jobs function is given them. */
  webhookSecrets: Readonly<Record<string, string>>;
};

export type BreakerConfig = {
  /** How often an instance writes its counts, and reads the shared state. */
  flushMs: number;
  refreshMs: number;
  shards: number;
  /** Keeps apart the breakers of gateway deployments that share one Firestore database ('' for none). */
  scope: string;
  /** Settings per configured provider: the environment defaults with the provider's overrides. */
  providers: Record<string, BreakerSettings>;
};

export type ReviewConfig = {
  sampleRate: number;
  /** How long a reviewer's claim lasts. */
  leaseMs: number;
  /** `events`: the review lifecycle topic for outside subscribers (docs/events.md). */
  topics: { requests: string; deadLetter: string; escalations: string; events: string };
  /** The push subscription of the review intake (created by Terraform; by the local stack in the emulator). */
  intakeSubscription: string;
  maxDeliveryAttempts: number;
  /** How long the API waits for Pub/Sub before leaving a review request to the outbox sweeper. */
  publishTimeoutMs: number;
  /** The sweeper republishes outbox entries at least this old. */
  outboxMinAgeMs: number;
};

export type TasksConfig = {
  mode: 'cloud' | 'local';
  location: string;
  queues: { deadlines: string; callbacks: string };
  /** The identity (OIDC) of deadline checks and callbacks. */
  serviceAccount: string;
  /** Base URL of the reviewJobs function, and the audience its callers' tokens must carry. */
  jobsUrl: string;
  jobsAudience: string;
  /** The identity Cloud Scheduler calls the outbox sweep with. */
  schedulerServiceAccount: string;
};

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const DEV_HMAC_KEY = 'local-development-audit-key-not-secret';
/** The identity the local task scheduler's development tokens name (TASKS_MODE=local). */
const LOCAL_TASKS_SERVICE_ACCOUNT = 'review-tasks@local.test';

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  // Cloud Run (and Cloud Functions, which runs on it) sets K_SERVICE. There, no development mode may be on,
  // whatever GATEWAY_ENV says: a deploy that forgets GATEWAY_ENV=production must fail to start rather than
  // accept `dev:` tokens, sign the audit chain with the public development key or talk to 127.0.0.1.
  const onCloudRun = Boolean(env.K_SERVICE);
  if (onCloudRun && e.GATEWAY_ENV !== 'production') {
    throw new ConfigError(
      'GATEWAY_ENV: must be production on Cloud Run (K_SERVICE is set); local development modes are refused there',
    );
  }
  if (onCloudRun && !e.ROUTING_CONFIG) {
    throw new ConfigError(
      'ROUTING_CONFIG: required on Cloud Run (K_SERVICE is set); the local model servers are for development',
    );
  }
  const authMode = e.AUTH_MODE ?? (e.GATEWAY_ENV === 'local' ? 'dev' : 'google');
  if (authMode === 'dev' && e.GATEWAY_ENV !== 'local') {
    throw new ConfigError('AUTH_MODE: dev tokens are never accepted when GATEWAY_ENV=production');
  }
  if (authMode === 'google' && (!e.AUTH_AUDIENCE || !e.AUTH_PRINCIPALS)) {
    throw new ConfigError('AUTH_AUDIENCE and AUTH_PRINCIPALS: both are required when AUTH_MODE=google');
  }
  if (e.GATEWAY_ENV === 'production' && !e.AUDIT_HMAC_KEY) {
    throw new ConfigError('AUDIT_HMAC_KEY: required in production (mounted from Secret Manager)');
  }
  if (Boolean(e.AUDIT_CHAIN_KEY) !== Boolean(e.AUDIT_CHAIN_KEY_ID)) {
    throw new ConfigError(
      'AUDIT_CHAIN_KEY and AUDIT_CHAIN_KEY_ID: set both (the key and its version id) or neither',
    );
  }
  if (e.GATEWAY_ENV === 'production' && !e.AUDIT_CHAIN_KEY) {
    throw new ConfigError('AUDIT_CHAIN_KEY: required in production (mounted from Secret Manager)');
  }
  if (e.AUDIT_CHAIN_KEY_ID === DEV_CHAIN_KEY.id || e.AUDIT_CHAIN_KEY === DEV_CHAIN_KEY.secret) {
    throw new ConfigError(
      'AUDIT_CHAIN_KEY_ID: the id "dev" and the development key are reserved for local runs',
    );
  }
  if (e.IAP_AUDIENCE && authMode !== 'google') {
    throw new ConfigError(
      'IAP_AUDIENCE: needs AUTH_MODE=google (IAP identities map through AUTH_PRINCIPALS)',
    );
  }
  const tasksMode = e.TASKS_MODE ?? (e.GATEWAY_ENV === 'local' ? 'local' : 'cloud');
  if (tasksMode === 'local' && e.GATEWAY_ENV !== 'local') {
    throw new ConfigError('TASKS_MODE: the local task scheduler is never used when GATEWAY_ENV=production');
  }
  if (tasksMode === 'cloud' && (!e.REVIEW_JOBS_URL || !e.TASKS_SERVICE_ACCOUNT)) {
    throw new ConfigError(
      'REVIEW_JOBS_URL and TASKS_SERVICE_ACCOUNT: both are required when TASKS_MODE=cloud',
    );
  }
  if (tasksMode === 'cloud' && !e.REVIEW_JOBS_URL!.startsWith('https://')) {
    throw new ConfigError(
      'REVIEW_JOBS_URL: must be https when TASKS_MODE=cloud (Cloud Tasks sends OIDC tokens to https only)',
    );
  }
  const jobsUrl = (e.REVIEW_JOBS_URL ?? `http://127.0.0.1:${env.REVIEW_JOBS_PORT || '8082'}`).replace(
    /\/+$/,
    '',
  );
  const tasksServiceAccount = e.TASKS_SERVICE_ACCOUNT ?? LOCAL_TASKS_SERVICE_ACCOUNT;
  const callbacks = callbackSettings(e, jobsUrl);
  const routing = e.ROUTING_CONFIG ?? localRouting(env);
  for (const [task, route] of Object.entries(routing.tasks)) {
    for (const step of route.chain) {
      if (!routing.providers[step.provider]) {
        throw new ConfigError(`ROUTING_CONFIG: task ${task} names unknown provider ${step.provider}`);
      }
    }
  }
  // A claim must outlive the whole chain's worst case (routes.ts says why).
  const leaseMs = e.IDEMPOTENCY_LEASE_SECONDS * 1000;
  for (const [task, route] of Object.entries(routing.tasks)) {
    const worstMs = worstCaseMs(route);
    if (worstMs > leaseMs) {
      throw new ConfigError(
        `IDEMPOTENCY_LEASE_SECONDS: ${e.IDEMPOTENCY_LEASE_SECONDS} s is shorter than the worst case of task ${task} in ROUTING_CONFIG (${worstMs / 1000} s: the chain's timeouts plus ${COMMIT_MARGIN_MS / 1000} s to commit); raise the lease or lower the timeouts`,
      );
    }
  }
  for (const [name, provider] of Object.entries(routing.providers)) {
    if (provider.kind === 'anthropic' && provider.mode === 'direct' && !provider.apiKeyEnv) {
      throw new ConfigError(`ROUTING_CONFIG: provider ${name} (anthropic, direct) needs apiKeyEnv`);
    }
    if (provider.kind === 'anthropic' && provider.mode === 'vertex' && !provider.location) {
      throw new ConfigError(`ROUTING_CONFIG: provider ${name} (anthropic, vertex) needs location`);
    }
  }
  return Object.freeze({
    env: e.GATEWAY_ENV,
    version: e.GATEWAY_VERSION,
    project: e.GOOGLE_CLOUD_PROJECT,
    auth:
      authMode === 'dev'
        ? { mode: 'dev' as const }
        : { mode: 'google' as const, audience: e.AUTH_AUDIENCE!, principals: e.AUTH_PRINCIPALS! },
    idempotency: { ttlMs: e.IDEMPOTENCY_TTL_HOURS * 3_600_000, leaseMs: e.IDEMPOTENCY_LEASE_SECONDS * 1000 },
    iap: e.IAP_AUDIENCE ? { audience: e.IAP_AUDIENCE } : null,
    firestore: { deadlineMs: e.FIRESTORE_DEADLINE_MS },
    maxBodyBytes: e.MAX_BODY_BYTES,
    callbacks,
    routing,
    audit: {
      logFile: e.AUDIT_LOG_FILE ?? (e.GATEWAY_ENV === 'local' ? '.data/audit.jsonl' : null),
      hmacKey: e.AUDIT_HMAC_KEY ?? DEV_HMAC_KEY,
      chainKey:
        e.AUDIT_CHAIN_KEY && e.AUDIT_CHAIN_KEY_ID
          ? { id: e.AUDIT_CHAIN_KEY_ID, secret: e.AUDIT_CHAIN_KEY }
          : DEV_CHAIN_KEY,
      toStdout: e.AUDIT_TO_STDOUT,
    },
    overload: {
      maxConcurrent: e.MAX_CONCURRENT_REQUESTS,
      maxEventLoopLagMs: e.OVERLOAD_EVENT_LOOP_LAG_MS,
    },
    review: {
      sampleRate: e.REVIEW_SAMPLE_RATE,
      leaseMs: e.REVIEW_LEASE_SECONDS * 1000,
      topics: {
        requests: e.REVIEW_TOPIC,
        deadLetter: e.REVIEW_DEAD_LETTER_TOPIC,
        escalations: e.ESCALATION_TOPIC,
        events: e.REVIEW_EVENTS_TOPIC,
      },
      intakeSubscription: e.REVIEW_INTAKE_SUBSCRIPTION,
      maxDeliveryAttempts: e.REVIEW_MAX_DELIVERY_ATTEMPTS,
      publishTimeoutMs: e.REVIEW_PUBLISH_TIMEOUT_MS,
      outboxMinAgeMs: e.REVIEW_OUTBOX_MIN_AGE_SECONDS * 1000,
    },
    tasks: {
      mode: tasksMode,
      location: e.TASKS_LOCATION,
      queues: { deadlines: e.DEADLINE_QUEUE, callbacks: e.CALLBACK_QUEUE },
      serviceAccount: tasksServiceAccount,
      jobsUrl,
      jobsAudience: e.JOBS_AUDIENCE ?? jobsUrl,
      schedulerServiceAccount: e.SCHEDULER_SERVICE_ACCOUNT ?? tasksServiceAccount,
    },
    breakers: {
      flushMs: e.BREAKER_FLUSH_MS,
      refreshMs: e.BREAKER_REFRESH_MS,
      shards: e.BREAKER_BUCKET_SHARDS,
      scope: e.BREAKER_SCOPE,
      providers: breakerSettingsFor(routing, breakerDefaults(e)),
    },
  });
}

const LOOPBACK_HOSTS = ['127.0.0.1', 'localhost', '[::1]'];

function callbackSettings(e: z.infer<typeof envSchema>, jobsUrl: string): CallbackConfig {
  const allowedOrigins = e.CALLBACK_ALLOWED_ORIGINS ?? {};
  const jobsOrigin = new URL(jobsUrl).origin;
  for (const [tenant, origins] of Object.entries(allowedOrigins)) {
    for (const origin of origins) {
      const { protocol, hostname } = new URL(origin);
      if (protocol === 'http:' && (e.GATEWAY_ENV !== 'local' || !LOOPBACK_HOSTS.includes(hostname))) {
        throw new ConfigError(
          `CALLBACK_ALLOWED_ORIGINS: ${tenant}: ${origin} must be https (plain http only for loopback, locally)`,
        );
      }
      // Callbacks carry no credential of ours, but the jobs endpoints are still nobody's webhook receiver.
      if (origin === jobsOrigin) {
        throw new ConfigError(
          `CALLBACK_ALLOWED_ORIGINS: ${tenant}: ${origin} is the gateway's own jobs origin`,
        );
      }
    }
  }
  const webhookSecrets = e.WEBHOOK_SECRETS ?? {};
  // Only the review jobs function is given WEBHOOK_SECRETS; where it is, every tenant with callbacks needs one.
  if (e.WEBHOOK_SECRETS) {
    const unsigned = Object.keys(allowedOrigins).filter(
      (tenant) => allowedOrigins[tenant]!.length > 0 && !webhookSecrets[tenant],
    );
    if (unsigned.length > 0) {
      throw new ConfigError(
        `WEBHOOK_SECRETS: no secret for tenant(s) ${unsigned.join(', ')} of CALLBACK_ALLOWED_ORIGINS`,
      );
    }
  }
  return { allowedOrigins, webhookSecrets };
}

function breakerDefaults(e: z.infer<typeof envSchema>): BreakerDefaults {
  return {
    windowSeconds: e.BREAKER_WINDOW_SECONDS,
    errorRate: e.BREAKER_ERROR_RATE,
    minFailures: e.BREAKER_MIN_FAILURES,
    minWindowSeconds: e.BREAKER_MIN_WINDOW_SECONDS,
    slowCallMs: e.BREAKER_SLOW_CALL_MS,
    largeInputChars: e.BREAKER_LARGE_INPUT_CHARS,
    openSeconds: e.BREAKER_OPEN_SECONDS,
    halfOpenProbes: e.BREAKER_HALF_OPEN_PROBES,
  };
}
