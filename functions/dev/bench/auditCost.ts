/**
 * What audit emission costs per request.
 *
 *   npm run bench:audit
 *   BENCH_AUDIT_EVENTS=5000 BENCH_AUDIT_REQUESTS=600 npm run bench:audit
 *
 * 1. Per event, in process: sealing (RFC 8785 canonical JSON + SHA-256), schema validation, building the
 *    Cloud Logging entry, the stdout write (a synchronous write(2) to /dev/null, the cost of the system call
 *    without a terminal's) and the append to the local audit file — each stage alone, then the sink's whole
 *    `write` as the gateway calls it.
 * 2. Per request, end to end through the Functions Framework against the Firestore emulator and two local
 *    model servers: the same gateway with the real audit sink and with a sink that drops every event,
 *    requests interleaved in blocks so that drift on a shared machine hits both alike.
 *
 * Prints the machine and the settings with the numbers.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, writeSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Firestore } from '@google-cloud/firestore';
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { auditLogEntry } from '../../src/adapters/audit/auditLogEntry.js';
import { LoggingAuditSink } from '../../src/adapters/audit/loggingAuditSink.js';
import { loadConfig } from '../../src/config.js';
import type { AuditSink } from '../../src/core/audit/auditSink.js';
import { type AuditDraft, DEV_CHAIN_KEY, sealEvent } from '../../src/core/audit/chain.js';
import { AUDIT_SCHEMA_VERSION, auditEventSchema } from '../../src/core/audit/events.js';
import { createGateway } from '../../src/gateway.js';
import { installProblemFinalHandler } from '../../src/http/frameworkErrors.js';
import { startFirestoreEmulator } from '../emulators.js';
import { describeMachine } from '../machine.js';
import { startModelServer } from '../modelServer/modelServer.js';
import { BENCH_NOTE } from './benchRequest.js';
import { percentile } from './percentile.js';

const EVENTS = Number(process.env.BENCH_AUDIT_EVENTS ?? 2_000);
const REQUESTS = Number(process.env.BENCH_AUDIT_REQUESTS ?? 400);
const BLOCK = 20;
const WARMUP = 30;
const PROJECT = 'demo-clinical-gateway-bench';

type Stats = { n: number; mean: number; p50: number; p95: number; p99: number };

function stats(samples: number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  return {
    n: s.length,
    mean: s.reduce((a, b) => a + b, 0) / s.length,
    p50: percentile(s, 50),
    p95: percentile(s, 95),
    p99: percentile(s, 99),
  };
}

const µs = (ms: number) => `${(ms * 1000).toFixed(1)} µs`;
const msText = (ms: number) => `${ms.toFixed(2)} ms`;
const row = (label: string, s: Stats, unit: (x: number) => string) =>
  console.log(
    `  ${label.padEnd(34)} mean ${unit(s.mean).padStart(10)}  p50 ${unit(s.p50).padStart(10)}  p95 ${unit(s.p95).padStart(10)}  p99 ${unit(s.p99).padStart(10)}`,
  );

/** A completed-inference event as the gateway drafts it, with a typical medication list as the response. */
function completedDraft(inferenceId: string): AuditDraft {
  return {
    schemaVersion: AUDIT_SCHEMA_VERSION,
    eventId: randomUUID(),
    eventType: 'inference.completed',
    timestamp: new Date().toISOString(),
    tenant: 'acme',
    actor: { subject: 'alice@hospital.example', tenant: 'acme', role: 'clinician' },
    inferenceId,
    patientRef: 'mrn-0012345',
    encounterRef: 'enc-778899',
    gatewayVersion: '0.1.0',
    trace: '0af7651916cd43dd8448eb211c80319c',
    task: 'medication-extraction',
    decision: {
      status: 'completed',
      httpStatus: 200,
      provider: 'local-a',
      model: 'local-clinical-1',
      modelVersion: 'local-clinical-1',
      routing: {
        attempts: [
          {
            provider: 'local-a',
            model: 'local-clinical-1',
            breakerState: 'closed',
            outcome: 'success',
            latencyMs: 41,
          },
        ],
        fallbackTaken: false,
      },
      promptTemplateVersion: 'v1',
      promptHash: 'ab'.repeat(32),
      response: {
        medications: [
          { name: 'metformin', dose: '500 mg', route: 'oral', frequency: 'twice daily' },
          { name: 'lisinopril', dose: '10 mg', route: null, frequency: 'once daily' },
          { name: 'atorvastatin', dose: '40 mg', route: null, frequency: 'at bedtime' },
        ],
      },
      confidence: 0.93,
      threshold: 0.8,
      scorerVersion: 'geomean-logprob-v1',
      scoreBasis: 'logprobs',
      sampledForReview: false,
      failureReason: null,
      latencyMs: { total: 48, provider: 41 },
    },
    review: null,
    breaker: null,
  };
}

async function perEvent(dir: string): Promise<void> {
  const devNull = openSync('/dev/null', 'w');
  const toDevNull = (line: string) => void writeSync(devNull, `${line}\n`);
  const file = join(dir, 'bench-audit.jsonl');
  const stages: Record<string, number[]> = {
    seal: [],
    validate: [],
    entry: [],
    stdout: [],
    file: [],
    sink: [],
  };
  const sink = new LoggingAuditSink({
    project: PROJECT,
    toStdout: true,
    file: join(dir, 'sink.jsonl'),
    write: toDevNull,
  });
  let bytes = 0;
  for (let i = 0; i < EVENTS + WARMUP; i++) {
    const d = completedDraft(`inf_bench_${i}`);
    let t = performance.now();
    const event = sealEvent(d, null, DEV_CHAIN_KEY);
    const sealed = performance.now();
    auditEventSchema.parse(event);
    const validated = performance.now();
    const eventJson = JSON.stringify(event);
    const line = JSON.stringify(auditLogEntry(event, eventJson, PROJECT));
    const built = performance.now();
    toDevNull(line);
    const written = performance.now();
    await appendFile(file, `${eventJson}\n`);
    const appended = performance.now();
    if (i >= WARMUP) {
      stages.seal!.push(sealed - t);
      stages.validate!.push(validated - sealed);
      stages.entry!.push(built - validated);
      stages.stdout!.push(written - built);
      stages.file!.push(appended - written);
      bytes += Buffer.byteLength(line);
    }
    const again = sealEvent(completedDraft(`inf_bench_sink_${i}`), null, DEV_CHAIN_KEY);
    t = performance.now();
    await sink.write(again);
    if (i >= WARMUP) stages.sink!.push(performance.now() - t);
  }
  closeSync(devNull);
  console.log(
    `\n1. Per audit event, in process (${EVENTS} events after ${WARMUP} warm-up; entry ${Math.round(bytes / EVENTS)} bytes):`,
  );
  row('seal (canonical JSON + SHA-256)', stats(stages.seal!), µs);
  row('schema validation (zod)', stats(stages.validate!), µs);
  row('build + serialise log entry', stats(stages.entry!), µs);
  row('stdout write (write(2), /dev/null)', stats(stages.stdout!), µs);
  row('append to local audit file', stats(stages.file!), µs);
  const sum = ['seal', 'validate', 'entry', 'stdout'].reduce((a, k) => a + stats(stages[k]!).mean, 0);
  console.log(`  ${'production path (no file), sum of means'.padEnd(34)} ${µs(sum).padStart(15)}`);
  row('LoggingAuditSink.write (stdout+file)', stats(stages.sink!), µs);
}

const dropEverything: AuditSink = { write: async () => {} };

async function perRequest(dir: string, firestore: Firestore): Promise<void> {
  const a = await startModelServer({ name: 'local-a', port: 0 });
  const b = await startModelServer({ name: 'local-b', port: 0 });
  const config = loadConfig({
    GATEWAY_ENV: 'local',
    GOOGLE_CLOUD_PROJECT: PROJECT,
    LOCAL_A_URL: `${a.url}/v1`,
    LOCAL_B_URL: `${b.url}/v1`,
    AUDIT_LOG_FILE: join(dir, 'gateway-audit.jsonl'),
  });
  installProblemFinalHandler();
  const devNull = openSync('/dev/null', 'w');
  const logWriter = (line: string) => void writeSync(devNull, `${line}\n`);
  const variants = {
    'real audit sink': createGateway(config, { firestore, logWriter }),
    'no-op audit sink': createGateway(config, { firestore, logWriter, audit: dropEverything }),
  };
  const urls: Record<string, string> = {};
  const servers = [];
  for (const [name, gateway] of Object.entries(variants)) {
    const target = `bench-${randomUUID().slice(0, 8)}`;
    http(target, gateway.inferenceApi);
    const server = getTestServer(target);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    urls[name] = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }
  const call = async (url: string, key: string) => {
    const t = performance.now();
    const res = await fetch(`${url}/v1/inferences`, {
      method: 'POST',
      headers: {
        Authorization: 'Bearer dev:bench:clinician:alice',
        'Content-Type': 'application/json',
        'Idempotency-Key': key,
      },
      body: JSON.stringify({
        task: 'medication-extraction',
        input: { text: BENCH_NOTE },
        patientRef: 'mrn-1',
      }),
    });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`benchmark request answered ${res.status}`);
    return performance.now() - t;
  };
  const fresh: Record<string, number[]> = { 'real audit sink': [], 'no-op audit sink': [] };
  const replays: Record<string, number[]> = { 'real audit sink': [], 'no-op audit sink': [] };
  for (const name of Object.keys(urls))
    for (let i = 0; i < WARMUP; i++) await call(urls[name]!, randomUUID());
  for (let done = 0; done < REQUESTS; done += BLOCK) {
    for (const name of Object.keys(urls)) {
      for (let i = 0; i < BLOCK; i++) {
        const key = randomUUID();
        fresh[name]!.push(await call(urls[name]!, key));
        replays[name]!.push(await call(urls[name]!, key));
      }
    }
  }
  console.log(
    `\n2. Per request, end to end (${REQUESTS} fresh requests and ${REQUESTS} replays per variant, interleaved in blocks of ${BLOCK}):`,
  );
  for (const name of Object.keys(urls)) {
    row(`${name}: fresh (200)`, stats(fresh[name]!), msText);
    row(`${name}: replay`, stats(replays[name]!), msText);
  }
  const diff = (xs: Record<string, number[]>, f: (s: Stats) => number) =>
    f(stats(xs['real audit sink']!)) - f(stats(xs['no-op audit sink']!));
  console.log(
    `  difference, fresh:  mean ${msText(diff(fresh, (s) => s.mean))}, p50 ${msText(diff(fresh, (s) => s.p50))}` +
      `; replays:  mean ${msText(diff(replays, (s) => s.mean))}, p50 ${msText(diff(replays, (s) => s.p50))}`,
  );
  closeSync(devNull);
  for (const server of servers) server.close();
  await Promise.all(Object.values(variants).map((g) => g.close()));
  await Promise.all([a.close(), b.close()]);
}

async function main(): Promise<void> {
  console.log('Audit emission cost');
  console.log(`machine: ${describeMachine({ os: true, loadAverage: true })}`);
  console.log(
    `settings: BENCH_AUDIT_EVENTS=${EVENTS} BENCH_AUDIT_REQUESTS=${REQUESTS}, Firestore emulator, local model servers`,
  );
  const dir = mkdtempSync(join(tmpdir(), 'bench-audit-'));
  await perEvent(dir);

  const emulator = process.env.FIRESTORE_EMULATOR_HOST
    ? null
    : await startFirestoreEmulator({ port: 0, projectId: PROJECT });
  if (emulator) process.env.FIRESTORE_EMULATOR_HOST = emulator.host;
  process.env.METADATA_SERVER_DETECTION ??= 'none';
  const firestore = new Firestore({ projectId: PROJECT, ignoreUndefinedProperties: true });
  try {
    await perRequest(dir, firestore);
  } finally {
    await firestore.terminate();
    await emulator?.stop();
  }
}

await main();
process.exit(0);
