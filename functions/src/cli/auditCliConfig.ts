import { z } from 'zod';
import { jsonString } from '../config.js';
import auditStream from '../core/audit/auditStream.json' with { type: 'json' };
import { DEV_CHAIN_KEY } from '../core/audit/chain.js';

/**
 * Settings of the audit commands (`npm run audit:*`), parsed once from the environment. They run on an
 * operator's or auditor's machine, not in a function, so they have their own small configuration; every
 * variable is described, and listed in docs/settings.md (`npm run docs:settings`).
 */

export const envSchema = z.object({
  AUDIT_BACKEND: z
    .enum(['local', 'bigquery'])
    .default('local')
    .describe("`local`: read `AUDIT_LOG_FILE`; `bigquery`: read the audit sink's dataset."),
  AUDIT_LOG_FILE: z
    .string()
    .min(1)
    .default('.data/audit.jsonl')
    .describe('The local audit file (relative to the project root under `npm run`).'),
  GOOGLE_CLOUD_PROJECT: z
    .string()
    .min(1)
    .default('demo-clinical-gateway')
    .describe(
      'Project of the Firestore ledger (completeness), and of BigQuery unless `AUDIT_BQ_PROJECT` is set.',
    ),
  AUDIT_BQ_PROJECT: z
    .string()
    .regex(/^[a-z0-9.:-]{1,128}$/, 'is not a project id')
    .optional()
    .describe('Project of the audit dataset. Unset: `GOOGLE_CLOUD_PROJECT`.'),
  AUDIT_BQ_DATASET: z
    .string()
    .regex(/^[A-Za-z0-9_]{1,1024}$/, 'is not a dataset id')
    .default(auditStream.bigQueryTable)
    .describe('Audit dataset (`auditStream.json` `bigQueryTable`).'),
  AUDIT_BQ_TABLE: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,1024}$/, 'is not a table id')
    .default(auditStream.bigQueryLogTable)
    .describe('Table the sink writes (named after the log).'),
  AUDIT_BQ_LOCATION: z
    .string()
    .min(1)
    .optional()
    .describe("BigQuery location to run the queries in (`EU`, `US`, a region). Unset: the dataset's."),
  FIRESTORE_EMULATOR_HOST: z
    .string()
    .min(1)
    .optional()
    .describe(
      'The Firestore emulator completeness reads. Unset: `127.0.0.1:8180` (the one `npm start` runs) with `AUDIT_BACKEND=local`; with `bigquery`, the real Firestore with Application Default Credentials.',
    ),
  /**
   * Every audit chain key the trail may be sealed with, as JSON `{ "<key id>": "<key>" }` (each Secret
   * Manager version of `audit-chain-key` that was ever in use). Local runs default to the dev key.
   */
  AUDIT_CHAIN_KEYS: jsonString(z.record(z.string().min(1), z.string().min(16)))
    .optional()
    .describe(
      'JSON `{"<key id>": "<key>"}`: every version of the audit chain key the trail may be sealed with. Required with `AUDIT_BACKEND=bigquery`; unset locally: `{"dev": <the development key>}`.',
    ),
});

export type AuditCliConfig = Readonly<{
  backend: 'local' | 'bigquery';
  logFile: string;
  /** Where the ledger (Firestore) is, for the completeness check. */
  project: string;
  /** Local runs read the emulator `npm start` runs; production reads Firestore itself. */
  firestoreEmulatorHost: string | null;
  bigquery: { project: string; dataset: string; table: string; location?: string };
  /** Chain keys by key id, to verify hashes. */
  chainKeys: ReadonlyMap<string, string>;
}>;

export class AuditCliConfigError extends Error {
  override readonly name = 'AuditCliConfigError';
}
export const isAuditCliConfigError = (e: unknown): e is AuditCliConfigError =>
  e instanceof AuditCliConfigError;

/** The Firestore emulator's address under `npm start`, when FIRESTORE_EMULATOR_HOST is not set. */
export const LOCAL_FIRESTORE_EMULATOR_HOST = '127.0.0.1:8180';

export function loadAuditCliConfig(env: NodeJS.ProcessEnv = process.env): AuditCliConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`);
    throw new AuditCliConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  if (!e.AUDIT_CHAIN_KEYS && e.AUDIT_BACKEND === 'bigquery') {
    throw new AuditCliConfigError(
      'invalid configuration: AUDIT_CHAIN_KEYS is required with AUDIT_BACKEND=bigquery (the chain keys, from Secret Manager)',
    );
  }
  return Object.freeze({
    chainKeys: new Map(Object.entries(e.AUDIT_CHAIN_KEYS ?? { [DEV_CHAIN_KEY.id]: DEV_CHAIN_KEY.secret })),
    backend: e.AUDIT_BACKEND,
    logFile: e.AUDIT_LOG_FILE,
    project: e.GOOGLE_CLOUD_PROJECT,
    firestoreEmulatorHost:
      e.FIRESTORE_EMULATOR_HOST ?? (e.AUDIT_BACKEND === 'local' ? LOCAL_FIRESTORE_EMULATOR_HOST : null),
    bigquery: {
      project: e.AUDIT_BQ_PROJECT ?? e.GOOGLE_CLOUD_PROJECT,
      dataset: e.AUDIT_BQ_DATASET,
      table: e.AUDIT_BQ_TABLE,
      ...(e.AUDIT_BQ_LOCATION ? { location: e.AUDIT_BQ_LOCATION } : {}),
    },
  });
}
