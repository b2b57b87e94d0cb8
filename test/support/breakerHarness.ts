import { randomUUID } from 'node:crypto';
import type { Firestore } from '@google-cloud/firestore';
import { observedBreakerStore } from '../../functions/dev/observedBreakerStore.js';
import { FirestoreBreakerStore } from '../../functions/src/adapters/firestore/firestoreBreakerStore.js';
import type { Config } from '../../functions/src/config.js';
import type { AuditSink } from '../../functions/src/core/audit/auditSink.js';
import { type AuditEvent, auditEventSchema } from '../../functions/src/core/audit/events.js';
import type { BreakerSettings } from '../../functions/src/core/breakers/breakerState.js';
import type { BreakerStore } from '../../functions/src/core/breakers/breakerStore.js';
import type { SharedBreakerBoard } from '../../functions/src/core/breakers/sharedBreakerBoard.js';
import {
  bearer,
  type ModelServer,
  manualClock,
  medicationNote,
  startTestGateway,
  type TestGateway,
  testConfig,
} from './gatewayHarness.js';

/**
 * Gateways with the real shared breakers (Firestore emulator), set up so that a test decides when they talk
 * to Firestore: the flush and refresh timers are set far beyond any test, and the test calls
 * `breakers.flush()` / `breakers.refresh()` where a timer tick would happen. Every call of `breakerConfig`
 * uses a Firestore project of its own, because breaker documents are per provider name and every gateway
 * in that project shares them (which is the point).
 */

/** A breaker's settings as the defaults derive them (test/unit/breakerSettings.test.ts checks the derivation). */
export const defaultBreakerSettings: BreakerSettings = {
  windowMs: 60_000,
  bucketMs: 10_000,
  errorRate: 0.05,
  minFailures: 5,
  minWindowMs: 10_000,
  slowCallMs: 8_000,
  largeInputChars: 20_000,
  openMs: 30_000,
  halfOpenProbes: 3,
  probeLeaseMs: 30_000,
};

export const NEVER_MS = String(24 * 3_600_000);

export function breakerConfig(models: { a: ModelServer; b: ModelServer }, env: Record<string, string> = {}) {
  return testConfig(models, {
    GOOGLE_CLOUD_PROJECT: `breakers-${randomUUID().slice(0, 8)}`,
    BREAKER_FLUSH_MS: NEVER_MS,
    BREAKER_REFRESH_MS: NEVER_MS,
    // Twenty failures and no minimum window age: a test opens a breaker with 20 failing calls, without
    // moving the clock.
    BREAKER_MIN_FAILURES: '20',
    BREAKER_MIN_WINDOW_SECONDS: '0',
    BREAKER_ERROR_RATE: '0.05',
    BREAKER_OPEN_SECONDS: '30',
    BREAKER_HALF_OPEN_PROBES: '3',
    ...env,
  });
}

/** An audit sink that keeps every event (each checked against the schema, as the real sink does). */
export function recordingAudit(): AuditSink & { events: AuditEvent[]; breakerEvents(): AuditEvent[] } {
  const events: AuditEvent[] = [];
  return {
    events,
    write: async (event) => {
      events.push(auditEventSchema.parse(event));
    },
    breakerEvents: () => events.filter((e) => e.eventType.startsWith('breaker.')),
  };
}

/** Counts the documents the breaker store writes, per document: increments and committed transitions. */
export function countingStore(
  db: Firestore,
): BreakerStore & { writes: Map<string, number>; total(): number } {
  const writes = new Map<string, number>();
  const store = observedBreakerStore(new FirestoreBreakerStore(db), {
    onWrite: (doc) => writes.set(doc, (writes.get(doc) ?? 0) + 1),
  });
  return Object.assign(store, {
    writes,
    total: () => [...writes.values()].reduce((a, b) => a + b, 0),
  });
}

export type BreakerGateway = TestGateway & {
  breakers: SharedBreakerBoard;
  audit: ReturnType<typeof recordingAudit>;
  tenant: string;
  /** POST /v1/inferences of the medication note (a fresh Idempotency-Key unless one is given). */
  infer(key?: string): Promise<import('supertest').Response>;
  /** Sequential inferences, waiting after each for the breaker work it started (as a test can, a user can't). */
  inferMany(n: number): Promise<import('supertest').Response[]>;
  /** GET /v1/providers as an admin: the breaker of one provider. */
  breakerOf(
    provider: string,
  ): Promise<{ name: string; state: string; errorRate: number; requests: number; openedAt: string | null }>;
};

export function startBreakerGateway(
  config: Config,
  options: {
    clock?: ReturnType<typeof manualClock>;
    breakerStore?: BreakerStore;
    firestore?: Firestore;
  } = {},
): BreakerGateway {
  const audit = recordingAudit();
  const clock = options.clock ?? manualClock();
  const gw = startTestGateway(config, {
    audit,
    clock: clock.now,
    ...(options.breakerStore ? { breakerStore: options.breakerStore } : {}),
    ...(options.firestore ? { firestore: options.firestore } : {}),
  });
  const breakers = gw.gateway.inference().breakers!;
  const tenant = `t${randomUUID().slice(0, 8)}`;
  const infer = (key: string = randomUUID()) =>
    gw.api
      .post('/v1/inferences')
      .set('Authorization', bearer(tenant, 'clinician', 'alice'))
      .set('Content-Type', 'application/json')
      .set('Idempotency-Key', key)
      .send(JSON.stringify({ task: 'medication-extraction', input: { text: medicationNote } }));
  return {
    ...gw,
    breakers,
    audit,
    tenant,
    infer,
    async inferMany(n) {
      const answers = [];
      for (let i = 0; i < n; i++) {
        answers.push(await infer());
        await breakers.settled();
      }
      return answers;
    },
    async breakerOf(provider) {
      const res = await gw.api.get('/v1/providers').set('Authorization', bearer(tenant, 'admin', 'ada'));
      if (res.status !== 200) throw new Error(`GET /v1/providers answered ${res.status}`);
      const found = res.body.providers.find((p: { name: string }) => p.name === provider);
      if (!found) throw new Error(`no breaker listed for ${provider}`);
      return found;
    },
  };
}
