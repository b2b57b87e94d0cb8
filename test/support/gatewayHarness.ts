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
  }): Promise<void>;
  stats(): Promise<{ requests: number }>;
  reset(): Promise<void>;
};

export async function startModelServers(): Promise<{
  a: ModelServerControl;
  b: ModelServerControl;
  close(): Promise<void>;
}> {
  const a = withControls(await startModelServer({ name: 'local-a', port: 0 }));
  const b = withControls(await startModelServer({ name: 'local-b', port: 0 }));
  return { a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
}

function withControls(server: ModelServer): ModelServerControl {
  return {
    ...server,
    async setBehaviour(b) {
      const res = await fetch(`${server.url}/admin/behaviour`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(b),
      });
      if (res.status !== 204) throw new Error(`model server refused behaviour: ${res.status}`);
    },
    async stats() {
      return (await (await fetch(`${server.url}/admin/stats`)).json()) as { requests: number };
    },
    async reset() {
      await fetch(`${server.url}/admin/reset`, { method: 'POST' });
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
