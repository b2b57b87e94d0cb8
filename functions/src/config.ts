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
 * with a message naming the variable. Every variable carries a `.describe()`: `npm run docs:settings` writes
 * docs/settings.md from them, and a test fails while that page is stale or a variable has no description.
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

export const envSchema = z.object({
  GATEWAY_ENV: z
    .enum(['local', 'production'])
    .default('local')
    .describe(
      '`local` or `production`. Production refuses dev tokens and the development keys and requires `AUDIT_HMAC_KEY` and `AUDIT_CHAIN_KEY`. On Cloud Run (`K_SERVICE` set) only `production` starts, and `ROUTING_CONFIG` is required there.',
    ),
  GATEWAY_VERSION: z
    .string()
    .default(process.env.npm_package_version ?? '0.1.0')
    .describe(
      "Recorded in every audit event. Terraform sets the package version plus the source archive's hash.",
    ),
  GOOGLE_CLOUD_PROJECT: z
    .string()
    .default('demo-clinical-gateway')
    .describe('Project id for Firestore, Pub/Sub and trace ids.'),
  AUTH_MODE: z
    .enum(['dev', 'google'])
    .optional()
    .describe(
      '`dev`: development tokens `dev:<tenant>:<role>:<subject>`, refused when `GATEWAY_ENV=production`. `google`: Google-signed ID tokens whose verified email maps to a tenant and roles through `AUTH_PRINCIPALS`. Unset: `dev` when `GATEWAY_ENV=local`, else `google`.',
    ),
  AUTH_AUDIENCE: z
    .string()
    .optional()
    .describe("Required with `AUTH_MODE=google`: the audience ID tokens must carry (the function's URL)."),
  AUTH_PRINCIPALS: jsonString(z.record(z.string(), principalSchema))
    .transform(lowerCaseEmails)
    .optional()
    .describe(
      'Required with `AUTH_MODE=google`: JSON `{"email": {"tenant": "...", "roles": ["clinician"]}}`; roles `clinician`, `reviewer`, `admin`; emails compare case-insensitively (two keys differing only in case are refused). An unknown email is `403`.',
    ),
  /** The audience of the IAP-signed header the reviewer console's requests carry (reviewer function). */
  IAP_AUDIENCE: z
    .string()
    .regex(
      /^\/projects\/[0-9]+\/(global\/backendServices\/[0-9]+|locations\/[a-z0-9-]+\/services\/[a-z][a-z0-9-]{0,62})$/,
      'must be /projects/<number>/global/backendServices/<id> or /projects/<number>/locations/<region>/services/<name>',
    )
    .optional()
    .describe(
      'Reviewer API behind Identity-Aware Proxy: the audience its signed header (`x-goog-iap-jwt-assertion`) must carry, `/projects/<number>/global/backendServices/<id>` or `/projects/<number>/locations/<region>/services/<name>` (Terraform output `console_iap_audience`); needs `AUTH_MODE=google`. See docs/console.md.',
    ),
  IDEMPOTENCY_TTL_HOURS: z.coerce
    .number()
    .positive()
    .default(24)
    .describe(
      'How long a key is kept and replayed (`expiresAt`; a Firestore TTL policy deletes the record later, and the code treats an expired one as absent at once).',
    ),
  IDEMPOTENCY_LEASE_SECONDS: z.coerce
    .number()
    .positive()
    .default(30)
    .describe(
      "How long a claim is held before another request may take it over. Must cover each task's worst case (the sum of its chain's `timeoutMs` plus 5 s to commit): a shorter lease stops the start, naming the task.",
    ),
  ROUTING_CONFIG: jsonString(routingSchema)
    .optional()
    .describe(
      'JSON: `providers` (name → `kind`, endpoint, `apiKeyEnv`, optional `breaker` overrides) and `tasks` (name → provider `chain` of `{provider, model, timeoutMs}` (timeout default 10000, at most 60000), `reviewThreshold` (default `0.8`), `reviewSlaMinutes` (default `240`)). Unset: the local chain `local-a` → `local-b` (2 s timeouts each) at `LOCAL_A_URL` / `LOCAL_B_URL` (default `http://127.0.0.1:8090/v1`, `…:8091/v1`, or the ports `LOCAL_A_PORT` / `LOCAL_B_PORT`). Required on Cloud Run. See docs/providers-and-breakers.md.',
    ),
  CALLBACK_ALLOWED_ORIGINS: jsonString(callbackOriginsSchema)
    .optional()
    .describe(
      "Inference API and review jobs: JSON tenant → array of allowed callback origins (`https://host[:port]`, no path; plain http only for loopback hosts, locally; never the gateway's own jobs origin). Unset: no callbacks. See docs/webhooks.md.",
    ),
  WEBHOOK_SECRETS: jsonString(z.record(z.string().min(1), webhookSecretSchema))
    .optional()
    .describe(
      'Review jobs only (a secret): JSON tenant → `whsec_…` Standard Webhooks secret (base64 of 24 to 64 bytes) that signs callbacks; where set, every tenant with callback origins needs one.',
    ),
  MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(DEFAULT_MAX_BODY_BYTES)
    .describe('Largest request body (`413` above it).'),
  AUDIT_LOG_FILE: z
    .string()
    .optional()
    .describe(
      'Local copy of every audit event, one JSON object a line. Unset: `.data/audit.jsonl` when `GATEWAY_ENV=local`, none in production.',
    ),
  AUDIT_HMAC_KEY: z
    .string()
    .min(16)
    .optional()
    .describe(
      'Key of the HMAC-SHA-256 prompt hashes and edit hashes (at least 16 characters); from Secret Manager in production, where it is required. Unset locally: a fixed development key.',
    ),
  AUDIT_CHAIN_KEY: z
    .string()
    .min(32, 'must be at least 32 characters')
    .optional()
    .describe(
      'Key of the audit hash chain (HMAC-SHA-256, at least 32 characters), set together with `AUDIT_CHAIN_KEY_ID`; from Secret Manager, required in production. Unset locally: the public development key `dev`. See docs/security.md.',
    ),
  AUDIT_CHAIN_KEY_ID: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, ".", "_" and "-", at most 64')
    .optional()
    .describe(
      'Id of `AUDIT_CHAIN_KEY`, recorded in every event as `chainKeyId` (the Secret Manager version, e.g. `v3`). The id `dev` is reserved for local runs.',
    ),
  FIRESTORE_DEADLINE_MS: z.coerce
    .number()
    .int()
    .min(100)
    .max(60_000)
    .default(2_000)
    .describe(
      'Deadline of each Firestore call on the request path; past it the answer is `503` + `Retry-After` (docs/chaos.md).',
    ),
  MAX_CONCURRENT_REQUESTS: z.coerce
    .number()
    .int()
    .min(1)
    .max(1_000)
    .default(80)
    .describe(
      "An instance answers `503` + `Retry-After` at once past this many requests in flight (Terraform sets it to the function's concurrency).",
    ),
  OVERLOAD_EVENT_LOOP_LAG_MS: z.coerce
    .number()
    .int()
    .min(10)
    .max(10_000)
    .default(500)
    .describe(
      'An instance also sheds new requests (`503` + `Retry-After`) once its event loop lags this far behind (CPU saturated).',
    ),
  AUDIT_TO_STDOUT: boolish
    .default(true)
    .describe(
      'Write audit events as structured Cloud Logging entries on stdout (`true`, `false`, `1`, `0`).',
    ),
  AUDIT_PENDING_GRACE_SECONDS: z.coerce
    .number()
    .int()
    .min(1)
    .max(86_400)
    .default(60)
    .describe(
      'A committed audit event whose pending copy is still in `auditPending` this long after its commit (its instance died before the emit, or the sink write failed) is emitted again by the outbox sweep; see docs/audit.md.',
    ),
  AUDIT_PENDING_RELEASE_MS: z.coerce
    .number()
    .int()
    .min(100)
    .max(60_000)
    .default(1_000)
    .describe(
      'How long an instance collects the ids of emitted audit events before deleting their pending copies in one batched write.',
    ),
  REVIEW_SAMPLE_RATE: z.coerce
    .number()
    .min(0)
    .max(1)
    .default(0)
    .describe(
      'Fraction (0–1) of confident outputs also sent to review for quality control, chosen deterministically from the inference id.',
    ),
  REVIEW_LEASE_SECONDS: z.coerce
    .number()
    .int()
    .min(30)
    .max(86_400)
    .default(600)
    .describe("How long a reviewer's claim lasts; the holder may claim again to renew it."),
  REVIEW_TOPIC: pubsubName.default('review-requests').describe('Topic of review requests (ids only).'),
  REVIEW_DEAD_LETTER_TOPIC: pubsubName
    .default('review-requests-dead-letter')
    .describe('Where undeliverable review requests go (kept by the subscription `<topic>-hold`).'),
  REVIEW_INTAKE_SUBSCRIPTION: pubsubName
    .default('review-intake')
    .describe('The push subscription to reviewIntake (created by Terraform; by `npm start` locally).'),
  REVIEW_MAX_DELIVERY_ATTEMPTS: z.coerce
    .number()
    .int()
    .min(5)
    .max(100)
    .default(5)
    .describe(
      "Delivery attempts before dead-lettering: the subscription's policy (`npm start` creates it with this; Terraform sets both from `dead_letter_max_delivery_attempts`).",
    ),
  ESCALATION_TOPIC: pubsubName
    .default('review-escalations')
    .describe('Where overdue review items are announced.'),
  REVIEW_EVENTS_TOPIC: pubsubName
    .default('review-events')
    .describe(
      'Where review lifecycle events are published for outside subscribers (Terraform sets it). See docs/events.md.',
    ),
  REVIEW_PUBLISH_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(100)
    .max(30_000)
    .default(1_500)
    .describe(
      'Longest wait for Pub/Sub (or Cloud Tasks) before an answer goes out anyway; the outbox sweep retries.',
    ),
  REVIEW_OUTBOX_MIN_AGE_SECONDS: z.coerce
    .number()
    .int()
    .min(0)
    .max(3_600)
    .default(5)
    .describe(
      'The sweep only republishes entries at least this old (younger ones are still being published by their request).',
    ),
  REVIEW_INTAKE_GRACE_SECONDS: z.coerce
    .number()
    .int()
    .min(0)
    .max(86_400)
    .default(300)
    .describe(
      'An inference sent to review whose item is still missing this long after is sent again by the outbox sweep (audited `review.request_resent`); see docs/chaos.md.',
    ),
  TASKS_MODE: z
    .enum(['cloud', 'local'])
    .optional()
    .describe(
      '`cloud`: Cloud Tasks. `local`: the local task scheduler, refused when `GATEWAY_ENV=production`. Unset: `local` when `GATEWAY_ENV=local`, else `cloud`.',
    ),
  TASKS_LOCATION: z
    .string()
    .regex(/^[a-z]+-[a-z]+[0-9]$/, 'must be a region such as us-central1')
    .default('us-central1')
    .describe('Region of the Cloud Tasks queues.'),
  DEADLINE_QUEUE: z
    .string()
    .regex(/^[A-Za-z0-9-]{1,100}$/)
    .default('review-deadlines')
    .describe('Cloud Tasks queue of deadline checks.'),
  CALLBACK_QUEUE: z
    .string()
    .regex(/^[A-Za-z0-9-]{1,100}$/)
    .default('review-callbacks')
    .describe('Cloud Tasks queue of decision callbacks.'),
  REVIEW_JOBS_URL: z
    .url()
    .optional()
    .describe(
      'Base URL of reviewJobs; deadline checks go to `$REVIEW_JOBS_URL/tasks/review-deadline`. Required (https) with `TASKS_MODE=cloud`. Unset locally: `http://127.0.0.1:$REVIEW_JOBS_PORT` (8082).',
    ),
  JOBS_AUDIENCE: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Audience of the OIDC tokens reviewJobs accepts (the endpoint URLs themselves are accepted too). Unset: `REVIEW_JOBS_URL`.',
    ),
  TASKS_SERVICE_ACCOUNT: z
    .email()
    .optional()
    .describe(
      'Identity (OIDC token) of deadline checks and callbacks; allowed to call reviewJobs. Required with `TASKS_MODE=cloud`; unset locally: `review-tasks@local.test`.',
    ),
  SCHEDULER_SERVICE_ACCOUNT: z
    .email()
    .optional()
    .describe(
      'Identity Cloud Scheduler calls the outbox sweep with; allowed to call reviewJobs. Unset: `TASKS_SERVICE_ACCOUNT`.',
    ),
  BREAKER_WINDOW_SECONDS: z.coerce
    .number()
    .int()
    .min(6)
    .max(3_600)
    .default(60)
    .describe('Sliding window length (six buckets of a sixth each).'),
  BREAKER_ERROR_RATE: z.coerce
    .number()
    .gt(0)
    .lt(1)
    .default(0.05)
    .describe("A breaker opens when the window's failure share is at or above this."),
  /** Replaced by BREAKER_MIN_FAILURES and BREAKER_MIN_WINDOW_SECONDS: a leftover setting fails the start. */
  BREAKER_MIN_REQUESTS: z
    .undefined({
      error: 'no longer used: the trip rule is BREAKER_MIN_FAILURES and BREAKER_MIN_WINDOW_SECONDS',
    })
    .optional()
    .describe(
      'No longer used (the trip rule is `BREAKER_MIN_FAILURES` and `BREAKER_MIN_WINDOW_SECONDS`): a deployment that still sets it fails at start, naming it.',
    ),
  BREAKER_MIN_FAILURES: z.coerce
    .number()
    .int()
    .positive()
    .default(5)
    .describe('No opening on fewer failures than this in the window.'),
  BREAKER_MIN_WINDOW_SECONDS: z.coerce
    .number()
    .int()
    .min(0)
    .max(3_600)
    .default(10)
    .describe(
      'No opening on a window younger than this (since the last transition, or since the instance started).',
    ),
  BREAKER_SLOW_CALL_MS: z.coerce
    .number()
    .int()
    .positive()
    .default(8_000)
    .describe('A successful call slower than this counts as a failure.'),
  BREAKER_LARGE_INPUT_CHARS: z.coerce
    .number()
    .int()
    .positive()
    .default(20_000)
    .describe('Calls with a longer input are not judged on their time (slow: success; timed out: nothing).'),
  BREAKER_OPEN_SECONDS: z.coerce
    .number()
    .int()
    .positive()
    .max(3_600)
    .default(30)
    .describe('How long an open breaker stays open before probing.'),
  BREAKER_HALF_OPEN_PROBES: z.coerce
    .number()
    .int()
    .positive()
    .max(100)
    .default(3)
    .describe('Probe calls admitted while half-open, across all instances; all must succeed.'),
  BREAKER_FLUSH_MS: z.coerce
    .number()
    .int()
    .min(100)
    .default(5_000)
    .describe('How often an instance writes its counts (one document write per provider with traffic).'),
  BREAKER_REFRESH_MS: z.coerce
    .number()
    .int()
    .min(100)
    .default(2_000)
    .describe('How often an instance reads the shared state and window.'),
  BREAKER_BUCKET_SHARDS: z.coerce
    .number()
    .int()
    .min(1)
    .max(100)
    .default(8)
    .describe('Bucket documents per provider and bucket; each instance writes one (random).'),
  BREAKER_SCOPE: z
    .string()
    .regex(/^[A-Za-z0-9-]{0,40}$/, 'letters, digits and "-", at most 40')
    .default('')
    .describe(
      'Keeps apart the breakers of gateway deployments sharing one Firestore database (document ids become `{scope}:{provider}`); the tests give each stack its own. Empty: none.',
    ),
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
  audit: {
    logFile: string | null;
    hmacKey: string;
    chainKey: ChainKey;
    toStdout: boolean;
    /** Pending copies older than this are re-emitted by the sweep (pendingAudit.ts). */
    pendingGraceMs: number;
    /** Emitted events' pending copies are deleted in one batch this often. */
    pendingReleaseMs: number;
  };
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
  /**
   * How long after its review request an inference may lack its review item before the sweep sends the
   * request again (reviewRequestReconciler.ts): far longer than the intake normally takes, so that re-sends
   * are for lost requests, not slow ones (a duplicate is harmless: the intake takes a request in once).
   */
  intakeGraceMs: number;
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
      pendingGraceMs: e.AUDIT_PENDING_GRACE_SECONDS * 1000,
      pendingReleaseMs: e.AUDIT_PENDING_RELEASE_MS,
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
      intakeGraceMs: e.REVIEW_INTAKE_GRACE_SECONDS * 1000,
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
