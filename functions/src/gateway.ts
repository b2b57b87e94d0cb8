import { resolve } from 'node:path';
import type { Firestore } from '@google-cloud/firestore';
import type { HttpFunction } from '@google-cloud/functions-framework';
import { LoggingAuditSink } from './adapters/audit/loggingAuditSink.js';
import { DevAuthenticator } from './adapters/auth/devAuthenticator.js';
import { GoogleIdTokenAuthenticator } from './adapters/auth/googleIdTokenAuthenticator.js';
import { createFirestore } from './adapters/firestore/firestoreClient.js';
import { FirestoreInferenceStore } from './adapters/firestore/firestoreInferenceStore.js';
import { FirestoreLedgerStore } from './adapters/firestore/firestoreLedgerStore.js';
import { createLogger, type LineWriter, type Logger } from './adapters/logging/structuredLog.js';
import { createProviderClients } from './adapters/providers/createProviderClients.js';
import type { Config } from './config.js';
import type { AuditSink } from './core/audit/auditSink.js';
import type { Authenticator } from './core/auth/principal.js';
import { IdempotencyLedger } from './core/idempotency/ledger.js';
import { InferenceService } from './core/inference/inferenceService.js';
import type { ProviderClient } from './core/providers/provider.js';
import { type BreakerBoard, ProviderRouter } from './core/routing/router.js';
import { createInferenceApi } from './http/inferenceApi.js';

/**
 * The composition root: builds every function's handler from one validated configuration. Nothing here is
 * a module-level singleton; index.ts builds one gateway per process, tests build as many as they need.
 */

export type GatewayOverrides = {
  firestore?: Firestore;
  authenticator?: Authenticator;
  providerClients?: ReadonlyMap<string, ProviderClient>;
  breakers?: BreakerBoard;
  audit?: AuditSink;
  /** Where log lines go (stdout by default); tests capture them. */
  logWriter?: LineWriter;
  clock?: () => Date;
};

export type Gateway = {
  inferenceApi: HttpFunction;
  firestore: Firestore;
  logger: Logger;
  close(): Promise<void>;
};

export function createGateway(config: Config, overrides: GatewayOverrides = {}): Gateway {
  const firestore = overrides.firestore ?? createFirestore(config.project);
  const logger = createLogger('gateway', overrides.logWriter);
  const authenticator = overrides.authenticator ?? createAuthenticator(config);
  const audit =
    overrides.audit ??
    new LoggingAuditSink({
      project: config.project,
      toStdout: config.audit.toStdout,
      file: config.audit.logFile ? resolve(config.audit.logFile) : null,
      ...(overrides.logWriter ? { write: overrides.logWriter } : {}),
    });
  const clients = overrides.providerClients ?? createProviderClients(config.routing);
  const breakers = overrides.breakers ?? {
    admit: async () => ({ allowed: true as const, state: 'closed' as const, probe: false }),
    recordOutcome: () => {},
  };
  const router = new ProviderRouter({ clients, breakers });
  const ledger = new IdempotencyLedger(new FirestoreLedgerStore(firestore), {
    ttlMs: config.idempotency.ttlMs,
    leaseMs: config.idempotency.leaseMs,
    ...(overrides.clock ? { clock: overrides.clock } : {}),
  });
  const inferences = new InferenceService({
    ledger,
    store: new FirestoreInferenceStore(firestore),
    router,
    routing: config.routing,
    audit,
    auditHmacKey: config.audit.hmacKey,
    gatewayVersion: config.version,
    reviewSampleRate: config.review.sampleRate,
    warn: (message, fields) => logger.warn(message, fields),
    ...(overrides.clock ? { clock: overrides.clock } : {}),
  });

  let lastHealth = { at: 0, ok: false };
  const healthy = async () => {
    if (Date.now() - lastHealth.at < 2_000) return lastHealth.ok;
    const ok = await firestore
      .collection('health')
      .doc('ping')
      .get()
      .then(() => true)
      .catch(() => false);
    lastHealth = { at: Date.now(), ok };
    return ok;
  };

  const inferenceApi = createInferenceApi({
    authenticator,
    inferences,
    providers: { list: async () => [] },
    maxBodyBytes: config.maxBodyBytes,
    allowHttpLoopbackCallbacks: config.env === 'local',
    healthy,
    onUnexpectedError: (error, req) =>
      logger.error('unexpected error', {
        path: req.path,
        method: req.method,
        // Name and code only: a message may quote data we must not log.
        error: error instanceof Error ? error.name : typeof error,
        code: (error as { code?: unknown } | null)?.code ?? null,
      }),
  });

  return {
    inferenceApi,
    firestore,
    logger,
    close: async () => {
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
