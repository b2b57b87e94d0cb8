/**
 * Latency of one inference request, end to end: HTTP through the Functions Framework, authentication,
 * validation, the idempotency claim, the model call to a local model server, the completion transaction
 * and audit emission — against the real Firestore emulator.
 *
 *   npm run bench                     # 300 sequential requests, each with a new key
 *   BENCH_REQUESTS=1000 npm run bench
 *
 * Prints p50/p95/p99 for fresh requests and for replays, with the machine and settings that produced them.
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { loadConfig } from '../../src/config.js';
import { createGateway } from '../../src/gateway.js';
import { installProblemFinalHandler } from '../../src/http/frameworkErrors.js';
import { startFirestoreEmulator } from '../emulators.js';
import { describeMachine } from '../machine.js';
import { startModelServer } from '../modelServer/modelServer.js';
import { benchAuditFile } from './benchAuditFile.js';
import { BENCH_BODY, BENCH_HEADERS, BENCH_NOTE } from './benchRequest.js';
import { percentile } from './percentile.js';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 300);
const WARMUP = 20;

function summarise(label: string, samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  console.log(
    `${label.padEnd(22)} n=${s.length}  p50=${percentile(s, 50).toFixed(1)} ms  p95=${percentile(s, 95).toFixed(1)} ms  ` +
      `p99=${percentile(s, 99).toFixed(1)} ms  mean=${mean.toFixed(1)} ms  max=${(s.at(-1) ?? 0).toFixed(1)} ms`,
  );
}

async function main() {
  // No metadata server on a workstation: don't let the Google clients probe for one.
  process.env.METADATA_SERVER_DETECTION ??= 'none';
  const project = 'demo-clinical-gateway-bench';
  const emulator = process.env.FIRESTORE_EMULATOR_HOST
    ? null
    : await startFirestoreEmulator({ port: 0, projectId: project });
  if (emulator) process.env.FIRESTORE_EMULATOR_HOST = emulator.host;
  const a = await startModelServer({ name: 'local-a', port: 0 });
  const b = await startModelServer({ name: 'local-b', port: 0 });
  const config = loadConfig({
    GATEWAY_ENV: 'local',
    GOOGLE_CLOUD_PROJECT: project,
    LOCAL_A_URL: `${a.url}/v1`,
    LOCAL_B_URL: `${b.url}/v1`,
    AUDIT_LOG_FILE: benchAuditFile('bench-audit.jsonl'),
  });
  const lines: string[] = [];
  // Audit and log lines are still produced and serialised; they go to memory so the terminal is not the bottleneck.
  const gateway = createGateway(config, { logWriter: (line) => void lines.push(line) });
  // As index.ts serves a deployed inference API: straight from the framework hook, without Express routing.
  installProblemFinalHandler({ serve: gateway.inferenceApi });
  http('inferenceApiBench', gateway.inferenceApi);
  const server = getTestServer('inferenceApiBench');
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const send = async (key: string) => {
    const started = performance.now();
    const res = await fetch(`${base}/v1/inferences`, {
      method: 'POST',
      headers: { ...BENCH_HEADERS, 'idempotency-key': key },
      body: BENCH_BODY,
    });
    await res.arrayBuffer();
    if (res.status !== 200 && res.status !== 202) throw new Error(`unexpected status ${res.status}`);
    return performance.now() - started;
  };

  try {
    for (let i = 0; i < WARMUP; i++) await send(randomUUID());
    const fresh: number[] = [];
    const keys: string[] = [];
    for (let i = 0; i < REQUESTS; i++) {
      const key = randomUUID();
      keys.push(key);
      fresh.push(await send(key));
    }
    const replays: number[] = [];
    for (const key of keys) replays.push(await send(key));

    console.log('Inference request latency (sequential, one client, keep-alive)');
    console.log(`machine: ${describeMachine()}`);
    console.log(
      `settings: Firestore emulator ${process.env.FIRESTORE_EMULATOR_HOST}; model server local-a in-process (no added latency); ` +
        `task medication-extraction; ${BENCH_NOTE.length}-char note; ${WARMUP} warm-up requests`,
    );
    summarise('new key (model call)', fresh);
    summarise('replay (no model call)', replays);
  } finally {
    server.close();
    await gateway.close();
    await Promise.all([a.close(), b.close()]);
    await emulator?.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
