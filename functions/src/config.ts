import { z } from 'zod';

/**
 * The gateway's settings, parsed once from the environment at cold start. A bad setting fails the start
 * with a message naming the variable. Every variable is listed, with its default, in the README.
 */

const providerSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('openai-compatible'),
    baseUrl: z.url(),
    /** Environment variable holding the API key locally; Secret Manager secret name in production. */
    apiKeyEnv: z.string().optional(),
    apiKeySecret: z.string().optional(),
  }),
  z.object({
    kind: z.literal('vertex-gemini'),
    project: z.string().optional(),
    location: z.string().default('us-central1'),
    /** Overrides the Vertex AI endpoint (used by tests that run the SDK against a local server). */
    baseUrl: z.url().optional(),
  }),
  z.object({
    kind: z.literal('anthropic'),
    /** `direct` uses the Anthropic API with a key; `vertex` uses Claude on Vertex AI with ADC. */
    mode: z.enum(['direct', 'vertex']).default('direct'),
    baseUrl: z.url().optional(),
    apiKeyEnv: z.string().optional(),
    apiKeySecret: z.string().optional(),
    project: z.string().optional(),
    location: z.string().optional(),
  }),
]);
export type ProviderConfig = z.infer<typeof providerSchema>;

const routeStepSchema = z.object({
  provider: z.string().min(1),
  model: z.string().min(1),
  timeoutMs: z.number().int().positive().max(60_000).default(10_000),
});

const taskRouteSchema = z.object({
  /** Ordered provider chain: primary first, then fallbacks. */
  chain: z.array(routeStepSchema).min(1),
  /** Outputs scoring below this go to a clinical reviewer. */
  reviewThreshold: z.number().min(0).max(1).default(0.8),
  /** How long a reviewer has to decide before the item is escalated. */
  reviewSlaMinutes: z.number().positive().default(240),
});
export type TaskRoute = z.infer<typeof taskRouteSchema>;

export const routingSchema = z.object({
  providers: z.record(z.string(), providerSchema),
  tasks: z.record(z.string(), taskRouteSchema),
});
export type RoutingConfig = z.infer<typeof routingSchema>;

const principalSchema = z.object({
  tenant: z.string().min(1),
  roles: z.array(z.enum(['clinician', 'reviewer', 'admin'])).min(1),
});

const boolish = z
  .enum(['true', 'false', '1', '0'])
  .transform((v) => v === 'true' || v === '1')
  .pipe(z.boolean());

const jsonString = <T extends z.ZodType>(schema: T) =>
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

function localRouting(env: NodeJS.ProcessEnv): RoutingConfig {
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

const envSchema = z.object({
  GATEWAY_ENV: z.enum(['local', 'production']).default('local'),
  GATEWAY_VERSION: z.string().default(process.env.npm_package_version ?? '0.1.0'),
  GOOGLE_CLOUD_PROJECT: z.string().default('demo-clinical-gateway'),
  AUTH_MODE: z.enum(['dev', 'google']).optional(),
  AUTH_AUDIENCE: z.string().optional(),
  AUTH_PRINCIPALS: jsonString(z.record(z.string(), principalSchema)).optional(),
  IDEMPOTENCY_TTL_HOURS: z.coerce.number().positive().default(24),
  IDEMPOTENCY_LEASE_SECONDS: z.coerce.number().positive().default(30),
  ROUTING_CONFIG: jsonString(routingSchema).optional(),
  MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(256 * 1024),
  AUDIT_LOG_FILE: z.string().optional(),
  AUDIT_HMAC_KEY: z.string().min(16).optional(),
  AUDIT_TO_STDOUT: boolish.default(true),
  REVIEW_SAMPLE_RATE: z.coerce.number().min(0).max(1).default(0),
});

export type Config = Readonly<{
  env: 'local' | 'production';
  version: string;
  project: string;
  auth:
    | { mode: 'dev' }
    | { mode: 'google'; audience: string; principals: Record<string, z.infer<typeof principalSchema>> };
  idempotency: { ttlMs: number; leaseMs: number };
  maxBodyBytes: number;
  routing: RoutingConfig;
  audit: { logFile: string | null; hmacKey: string; toStdout: boolean };
  review: { sampleRate: number };
}>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const DEV_HMAC_KEY = 'local-development-audit-key-not-secret';

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
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
  const routing = e.ROUTING_CONFIG ?? localRouting(env);
  for (const [task, route] of Object.entries(routing.tasks)) {
    for (const step of route.chain) {
      if (!routing.providers[step.provider]) {
        throw new ConfigError(`ROUTING_CONFIG: task ${task} names unknown provider ${step.provider}`);
      }
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
    maxBodyBytes: e.MAX_BODY_BYTES,
    routing,
    audit: {
      logFile: e.AUDIT_LOG_FILE ?? (e.GATEWAY_ENV === 'local' ? '.data/audit.jsonl' : null),
      hmacKey: e.AUDIT_HMAC_KEY ?? DEV_HMAC_KEY,
      toStdout: e.AUDIT_TO_STDOUT,
    },
    review: { sampleRate: e.REVIEW_SAMPLE_RATE },
  });
}
