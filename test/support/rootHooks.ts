/**
 * Mocha root-hook plugin (loaded through `.mocharc.json` "require"): one Firestore emulator and one Pub/Sub
 * emulator for the whole test run, on free ports.
 *
 * The environment is set when this module loads, before mocha imports any spec file, because modules under
 * test may read it at import time (config is parsed once at cold start; SDK clients read
 * FIRESTORE_EMULATOR_HOST / PUBSUB_EMULATOR_HOST when constructed). The emulators themselves start in
 * `beforeAll`, on the ports chosen here, and stop in `afterAll`.
 *
 * An emulator whose `*_EMULATOR_HOST` is already set in the environment is used as it is and not started.
 *
 * Temporary files go to one directory per run, removed when the run ends: tests make them with
 * `mkdtemp(os.tmpdir())` (audit files, scratch copies of the Terraform module, browser profiles), and so do
 * the processes they start, and a run must not leave hundreds of directories behind in /tmp.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Context } from 'mocha';
import {
  type RunningEmulator,
  startFirestoreEmulator,
  startPubsubEmulator,
} from '../../functions/dev/emulators.js';
import { findFreePort } from '../../functions/dev/processes.js';
import { takeContractViolations } from './contractHook.js';

process.env.GOOGLE_CLOUD_PROJECT ??= 'demo-clinical-gateway-test';
process.env.GATEWAY_ENV = 'local';
// Tests never run where a metadata server exists; without this, the Google SDKs probe for one (about a
// second, and a MetadataLookupWarning) before their first call to an emulator.
process.env.METADATA_SERVER_DETECTION ??= 'none';
// os.tmpdir() reads TMPDIR on every call, and child processes inherit it.
const runTmpDir = mkdtempSync(path.join(os.tmpdir(), 'gateway-tests-'));
process.env.TMPDIR = runTmpDir;

interface PlannedEmulator {
  start: typeof startFirestoreEmulator;
  port: number;
}

const planned: PlannedEmulator[] = [];

/** A free port not already planned for the other emulator. */
async function freePort(): Promise<number> {
  for (;;) {
    const port = await findFreePort();
    if (!planned.some((emulator) => emulator.port === port)) return port;
  }
}

if (!process.env.FIRESTORE_EMULATOR_HOST) {
  const port = await freePort();
  process.env.FIRESTORE_EMULATOR_HOST = `127.0.0.1:${port}`;
  planned.push({ start: startFirestoreEmulator, port });
}
if (!process.env.PUBSUB_EMULATOR_HOST) {
  const port = await freePort();
  process.env.PUBSUB_EMULATOR_HOST = `127.0.0.1:${port}`;
  planned.push({ start: startPubsubEmulator, port });
}

let running: RunningEmulator[] = [];

export const mochaHooks = {
  async beforeAll(this: Context): Promise<void> {
    this.timeout(120_000);
    const projectId = process.env.GOOGLE_CLOUD_PROJECT;
    const results = await Promise.allSettled(
      planned.map(({ start, port }) => start({ port, projectId, keepLog: 'on-failure' })),
    );
    running = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    const failure = results.find((result) => result.status === 'rejected');
    if (failure) {
      await stopAll();
      throw failure.reason;
    }
  },

  /** An answer that departs from the OpenAPI document fails the test that caused it (contractHook.ts). */
  afterEach(this: Context): void {
    const violations = takeContractViolations();
    if (violations.length > 0) {
      // A hook's error() fails the current test without failing the hook, so the suite goes on (mocha's
      // runner, as for leak checks); @types/mocha does not declare it.
      (this.test as { error(err: Error): void } | undefined)?.error(
        new Error(`answers that depart from the OpenAPI document:\n  ${violations.join('\n  ')}`),
      );
    }
  },

  async afterAll(this: Context): Promise<void> {
    this.timeout(60_000);
    await stopAll();
    rmSync(runTmpDir, { recursive: true, force: true });
  },
};

async function stopAll(): Promise<void> {
  const stopping = running;
  running = [];
  await Promise.all(stopping.map((emulator) => emulator.stop()));
}
