import { randomUUID } from 'node:crypto';
import { Firestore } from '@google-cloud/firestore';
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import supertest from 'supertest';
import { startModelServer } from '../../functions/dev/modelServer/modelServer.js';
import { type Config, loadConfig } from '../../functions/src/config.js';
import { createGateway, type Gateway, type GatewayOverrides } from '../../functions/src/gateway.js';
import { installProblemFinalHandler } from '../../functions/src/http/frameworkErrors.js';
import { checkAnswersAgainstContract } from './contractHook.js';

/**
 * A gateway under test: the real handlers registered with the Functions Framework and served by its own
 * test server (body parsing and all), against the Firestore emulator and two local model servers.
 */

export type ModelServer = Awaited<ReturnType<typeof startModelServer>>;

export type ModelServerControl = ModelServer & {
  setBehaviour(b: {
    failRate?: number;
    failStatus?: number;
    latencyMs?: number;
    confidence?: number | null;
    fault?: string | null;
  }): Promise<void>;
  stats(): Promise<{ requests: number }>;
  reset(): Promise<void>;
};

export type ModelServers = { a: ModelServerControl; b: ModelServerControl; close(): Promise<void> };

/** What a model server does (`PUT /admin/behaviour`, API.md). */
export type ModelBehaviour = Parameters<ModelServerControl['setBehaviour']>[0];

export async function startModelServers(): Promise<ModelServers> {
  const a = withControls(await startModelServer({ name: 'local-a', port: 0 }));
  const b = withControls(await startModelServer({ name: 'local-b', port: 0 }));
  return { a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
}

function withControls(server: ModelServer): ModelServerControl {
  return { ...server, ...modelControls(server.url) };
}

/** The control endpoints (`/admin/…`, API.md) of a model server at `url`, this process's or a stack's. */
export function modelControls(url: string): Omit<ModelServerControl, keyof ModelServer> {
  return {
    async setBehaviour(b) {
      const res = await fetch(`${url}/admin/behaviour`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(b),
      });
      if (res.status !== 204) throw new Error(`model server refused behaviour: ${res.status}`);
    },
    async stats() {
      return (await (await fetch(`${url}/admin/stats`)).json()) as { requests: number };
    },
    async reset() {
      await fetch(`${url}/admin/reset`, { method: 'POST' });
    },
  };
}

export type TestGateway = {
  gateway: Gateway;
  config: Config;
  api: ReturnType<typeof supertest>;
  /** Every line the gateway logged (operational and audit), for tests that inspect them. */
  logLines: string[];
  close(): Promise<void>;
};

export function testConfig(
  models: { a: ModelServer; b: ModelServer },
  env: Record<string, string> = {},
): Config {
  return loadConfig({
    GATEWAY_ENV: 'local',
    GOOGLE_CLOUD_PROJECT: process.env.GOOGLE_CLOUD_PROJECT ?? 'demo-clinical-gateway-test',
    LOCAL_A_URL: `${models.a.url}/v1`,
    LOCAL_B_URL: `${models.b.url}/v1`,
    AUDIT_LOG_FILE: '',
    // Breakers are shared by every gateway on one Firestore project, as between a deployment's instances.
    // Each test config gets a scope of its own, so a breaker one test opens (say, by timeouts under load)
    // never reroutes another test's traffic; gateways started from one config share theirs.
    BREAKER_SCOPE: `test-${randomUUID().slice(0, 8)}`,
    // The test process's own event loop lags under a busy suite; shedding on lag is tested on its own
    // (test/unit/loadShedder.test.ts), so it never sheds a request another test depends on.
    OVERLOAD_EVENT_LOOP_LAG_MS: '10000',
    ...env,
  });
}

export function startTestGateway(config: Config, overrides: GatewayOverrides = {}): TestGateway {
  installProblemFinalHandler();
  const logLines: string[] = [];
  const firestore =
    overrides.firestore ?? new Firestore({ projectId: config.project, ignoreUndefinedProperties: true });
  const gateway = createGateway(config, {
    logWriter: (line) => logLines.push(line),
    ...overrides,
    firestore,
  });
  const name = `inferenceApi-${randomUUID().slice(0, 8)}`;
  http(name, gateway.inferenceApi);
  const api = supertest(checkAnswersAgainstContract(getTestServer(name), 'inference'));
  return {
    gateway,
    config,
    api,
    logLines,
    close: async () => {
      // Stops the gateway's background work (breaker timers) before its Firestore client goes away.
      await gateway.close();
      if (!overrides.firestore) await firestore.terminate();
    },
  };
}

/**
 * A suite's shared set-up as mocha hooks, in one call. `start` runs in `before`; `stop` runs in `after`
 * whatever happened (a test that timed out, a later `before` that failed), so nothing a suite started
 * outlives it and breaks a later suite's hooks. `start` itself cleans up what it started if it fails half-way.
 * Gives back a getter of the started value (undefined outside the suite's hooks and tests).
 */
export function useSuiteResource<T>(
  start: () => Promise<T>,
  stop: (value: T) => Promise<void>,
): () => T | undefined {
  let value: T | undefined;
  before(async () => {
    value = await start();
  });
  after(async () => {
    const started = value;
    value = undefined;
    if (started !== undefined) await stop(started);
  });
  return () => value;
}

/**
 * A stand-in, usable in a suite's body, that forwards every property to the value `current` gives once the
 * suite's `before` has run, and fails with a clear message when used outside its hooks and tests.
 */
export function lateBound<T extends object>(current: () => T | undefined, what: string): T {
  return new Proxy({} as T, {
    get(_, property) {
      const target = current();
      if (!target) throw new Error(`${what} is used outside the suite's hooks and tests (not started)`);
      const v: unknown = Reflect.get(target, property, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

/** Both model servers back to `behaviour` (default: their deterministic defaults), counters at zero. */
export async function resetModels(models: ModelServers, behaviour: ModelServerOptions['behaviour'] = {}) {
  await Promise.all([models.a.reset(), models.b.reset()]);
  await Promise.all([
    behaviour.a && models.a.setBehaviour(behaviour.a),
    behaviour.b && models.b.setBehaviour(behaviour.b),
  ]);
}

export type ModelServerOptions = {
  /** What the model servers do at the start of every test (default: their deterministic defaults). */
  behaviour?: { a?: ModelBehaviour; b?: ModelBehaviour };
};

/**
 * The suite's two local model servers: started once, reset to `behaviour` before each test (so no test
 * inherits another's failure rate or counters), closed after the suite.
 */
export function useModelServers(options: ModelServerOptions = {}): ModelServers {
  return withModelsAnd(options, async () => null).models;
}

/**
 * Model servers and something started on them (a gateway, a review harness) as one resource: started in
 * that order, stopped in the reverse, the models reset to `behaviour` before each test.
 */
export function withModelsAnd<T extends { close(): Promise<void> } | null>(
  options: ModelServerOptions,
  startOn: (models: ModelServers) => Promise<T>,
): { models: ModelServers; value: () => T | undefined } {
  const current = useSuiteResource(
    async () => {
      const models = await startModelServers();
      try {
        await resetModels(models, options.behaviour);
        return { models, value: await startOn(models) };
      } catch (e) {
        await models.close();
        throw e;
      }
    },
    async ({ models, value }) => {
      try {
        await value?.close();
      } finally {
        await models.close();
      }
    },
  );
  beforeEach(async () => {
    const started = current();
    if (started) await resetModels(started.models, options.behaviour);
  });
  return {
    models: lateBound(() => current()?.models, 'the model servers'),
    value: () => current()?.value,
  };
}

export type GatewayStackOptions = ModelServerOptions & {
  /** Settings over `testConfig`'s; a function is called in `before`, for values that exist only then. */
  env?: Record<string, string> | (() => Record<string, string>);
  overrides?: GatewayOverrides;
};

/**
 * The set-up of most inference-API suites: two model servers (reset before each test) and a gateway on them
 * against the Firestore emulator, closed after the suite.
 */
export function useGatewayStack(options: GatewayStackOptions = {}): {
  models: ModelServers;
  gw: TestGateway;
} {
  const { models, value } = withModelsAnd(options, async (m) => {
    const env = typeof options.env === 'function' ? options.env() : options.env;
    return startTestGateway(testConfig(m, env), options.overrides);
  });
  return { models, gw: lateBound(value, 'the test gateway') };
}

/** A clock tests can move. */
export function manualClock(start = new Date('2026-11-27T09:00:00Z')) {
  let now = start.getTime();
  return {
    /** The gateway's `Clock`. */
    now: (): number => now,
    date: () => new Date(now),
    advance(ms: number) {
      now += ms;
    },
  };
}

export const bearer = (tenant: string, role: string, subject: string) =>
  `Bearer dev:${tenant}:${role}:${subject}`;
export const uniqueTenant = () => `t${randomUUID().slice(0, 8)}`;
export const medicationNote =
  'Patient takes metformin 500 mg PO BID and lisinopril 10 mg daily. Started atorvastatin 40 mg qhs.';
