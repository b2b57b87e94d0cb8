/**
 * Firestore writes made by the shared circuit breakers under load, per document.
 *
 *   npm run bench:breakers
 *   BENCH_INSTANCES=8 BENCH_RPS=600 BENCH_SECONDS=60 npm run bench:breakers
 *
 * Runs N gateway instances' breaker boards in this process, each with its own Firestore client, against one
 * Firestore emulator project, with the real timers and clock and the configured flush / refresh intervals.
 * A load loop sends BENCH_RPS requests a second, round-robin over the instances, through the breakers as
 * the router does (admit local-a; on failure or refusal, admit local-b), recording outcomes without calling
 * a model. local-a fails BENCH_FAILURE_RATE of its calls (evenly spread, below the 5% threshold) and, if
 * BENCH_OUTAGE=1 (the default), every call during the middle third of the run, so the run shows opening,
 * half-open probing and closing too.
 *
 * Every store write is counted per document, with its time; the result is the number of writes each
 * document took, its highest count in any one second and its mean rate while it was being written. Breaker
 * settings come from the environment as for the functions (BREAKER_*); BREAKER_OPEN_SECONDS defaults to 5
 * here so that the outage closes again within a short run. Prints the machine and the settings with the
 * numbers.
 */
import { randomUUID } from 'node:crypto';
import { Firestore } from '@google-cloud/firestore';
import { FirestoreBreakerStore } from '../../src/adapters/firestore/firestoreBreakerStore.js';
import { loadConfig } from '../../src/config.js';
import { DEV_CHAIN_KEY } from '../../src/core/audit/chain.js';
import type { AuditEvent } from '../../src/core/audit/events.js';
import type { BreakerStore } from '../../src/core/breakers/breakerStore.js';
import { SharedBreakerBoard } from '../../src/core/breakers/sharedBreakerBoard.js';
import { type RunningEmulator, startFirestoreEmulator } from '../emulators.js';
import { describeMachine } from '../machine.js';
import { FailureSchedule } from '../modelServer/behaviour.js';
import { observedBreakerStore } from '../observedBreakerStore.js';

const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 4);
const RPS = Number(process.env.BENCH_RPS ?? 300);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 30);
const FAILURE_RATE = Number(process.env.BENCH_FAILURE_RATE ?? 0.01);
const OUTAGE = (process.env.BENCH_OUTAGE ?? '1') !== '0';
const TICK_MS = 10;

for (const [name, value] of Object.entries({ INSTANCES, RPS, SECONDS, FAILURE_RATE })) {
  if (!Number.isFinite(value) || value < 0) throw new Error(`BENCH_${name}: not a non-negative number`);
}

type WriteLog = Map<string, number[]>;

/** The Firestore store, with every document write (bucket increment, committed transition) logged. */
function countingStore(inner: BreakerStore, writes: WriteLog, reads: { records: number; queries: number }) {
  return observedBreakerStore(inner, {
    onWrite: (doc) => {
      const times = writes.get(doc) ?? [];
      times.push(Date.now());
      writes.set(doc, times);
    },
    onRead: (kind, count) => {
      if (kind === 'records') reads.records += count;
      else reads.queries += count;
    },
  });
}

function maxInAnySecond(times: number[]): number {
  let best = 0;
  let start = 0;
  for (let end = 0; end < times.length; end++) {
    while (times[end]! - times[start]! >= 1_000) start++;
    best = Math.max(best, end - start + 1);
  }
  return best;
}

async function main(): Promise<void> {
  // No metadata server here; without this the Google SDKs probe for one before their first call.
  process.env.METADATA_SERVER_DETECTION ??= 'none';
  let emulator: RunningEmulator | null = null;
  if (!process.env.FIRESTORE_EMULATOR_HOST) {
    console.log('starting a Firestore emulator ...');
    emulator = await startFirestoreEmulator({ port: 0 });
    process.env.FIRESTORE_EMULATOR_HOST = emulator.host;
  }
  const project = `bench-breakers-${randomUUID().slice(0, 8)}`;
  const config = loadConfig({
    ...process.env,
    GATEWAY_ENV: 'local',
    GOOGLE_CLOUD_PROJECT: project,
    BREAKER_OPEN_SECONDS: process.env.BREAKER_OPEN_SECONDS ?? '5',
  });
  const settingsA = config.breakers.providers['local-a']!;

  const writes: WriteLog = new Map();
  const reads = { records: 0, queries: 0 };
  const audit: { at: number; event: AuditEvent }[] = [];
  const warnings: string[] = [];
  const clients: Firestore[] = [];
  const boards = Array.from({ length: INSTANCES }, (_, i) => {
    const db = new Firestore({ projectId: project, ignoreUndefinedProperties: true });
    clients.push(db);
    const board = new SharedBreakerBoard({
      store: countingStore(new FirestoreBreakerStore(db), writes, reads),
      settings: config.breakers.providers,
      flushMs: config.breakers.flushMs,
      refreshMs: config.breakers.refreshMs,
      shards: config.breakers.shards,
      audit: { write: async (event) => void audit.push({ at: Date.now(), event }) },
      chainKey: DEV_CHAIN_KEY,
      gatewayVersion: 'bench',
      log: (severity, message, fields) => {
        if (severity === 'WARNING' && fields.event !== 'breaker_transition') {
          warnings.push(`instance ${i}: ${message} ${JSON.stringify(fields)}`);
        }
      },
      // Spread over the shards as evenly as N random picks would on average.
      shard: i % config.breakers.shards,
    });
    board.start();
    return board;
  });

  const schedule = new FailureSchedule();
  schedule.setRate(FAILURE_RATE);
  const served = { 'local-a': 0, 'local-b': 0, unavailable: 0 };
  const started = Date.now();
  const outageFrom = started + (SECONDS * 1000) / 3;
  const outageTo = started + (2 * SECONDS * 1000) / 3;

  const request = async (board: SharedBreakerBoard): Promise<void> => {
    const now = Date.now();
    const down = OUTAGE && now >= outageFrom && now < outageTo;
    const a = await board.admit('local-a');
    if (a.allowed) {
      const fails = schedule.next() || down;
      board.recordOutcome(
        'local-a',
        fails
          ? { ok: false, failure: 'server_error', latencyMs: 3, probe: a.probe, inputChars: 2_000 }
          : { ok: true, latencyMs: 40, probe: a.probe, inputChars: 2_000 },
      );
      if (!fails) return void served['local-a']++;
    }
    const b = await board.admit('local-b');
    if (!b.allowed) return void served.unavailable++;
    board.recordOutcome('local-b', { ok: true, latencyMs: 60, probe: b.probe, inputChars: 2_000 });
    served['local-b']++;
  };

  console.log(`running ${SECONDS} s at ${RPS} requests/s over ${INSTANCES} instances ...`);
  let issued = 0;
  const inflight = new Set<Promise<void>>();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const elapsed = Date.now() - started;
      const due = Math.min(Math.floor((elapsed / 1000) * RPS), SECONDS * RPS);
      for (; issued < due; issued++) {
        const p = request(boards[issued % INSTANCES]!);
        inflight.add(p);
        void p.finally(() => inflight.delete(p));
      }
      if (elapsed >= SECONDS * 1000) {
        clearInterval(timer);
        resolve();
      }
    }, TICK_MS);
  });
  await Promise.all(inflight);
  const elapsedS = (Date.now() - started) / 1000;
  await Promise.all(boards.map((b) => b.close()));

  const bucketTotals = { requests: 0, failures: 0 };
  for (const doc of (await clients[0]!.collection('breakerBuckets').get()).docs) {
    bucketTotals.requests += doc.get('requests');
    bucketTotals.failures += doc.get('failures');
  }
  await Promise.all(clients.map((db) => db.terminate()));
  await emulator?.stop();

  const rows = [...writes].map(([doc, times]) => {
    const active = doc.startsWith('breakerBuckets/')
      ? settingsA.bucketMs / 1000
      : Math.max(1, (times.at(-1)! - times[0]!) / 1000);
    return {
      doc,
      writes: times.length,
      maxPerSecond: maxInAnySecond(times),
      meanPerSecond: times.length / active,
    };
  });
  const bucketRows = rows.filter((r) => r.doc.startsWith('breakerBuckets/'));
  const stateRows = rows.filter((r) => r.doc.startsWith('breakers/'));
  const totalWrites = rows.reduce((s, r) => s + r.writes, 0);
  console.log('\n== machine');
  console.log(`  ${describeMachine({ os: true, loadAverage: true })}`);
  console.log(
    '  Firestore emulator (local); the limit that matters in production is ~1 sustained write/s/document',
  );
  console.log('\n== settings');
  console.log(
    `  instances ${INSTANCES}, target ${RPS} requests/s for ${SECONDS} s, local-a failure rate ${FAILURE_RATE}`,
  );
  console.log(`  outage of local-a (100% failures): ${OUTAGE ? 'middle third of the run' : 'none'}`);
  console.log(
    `  BREAKER_FLUSH_MS ${config.breakers.flushMs}, BREAKER_REFRESH_MS ${config.breakers.refreshMs}, ` +
      `BREAKER_BUCKET_SHARDS ${config.breakers.shards}, window ${settingsA.windowMs / 1000} s in ` +
      `${settingsA.bucketMs / 1000} s buckets, error rate ≥ ${settingsA.errorRate}, min ${settingsA.minFailures} failures, ` +
      `window at least ${settingsA.minWindowMs / 1000} s old, ` +
      `open ${settingsA.openMs / 1000} s, ${settingsA.halfOpenProbes} probes`,
  );
  console.log('\n== load');
  console.log(
    `  ${issued} requests in ${elapsedS.toFixed(1)} s = ${(issued / elapsedS).toFixed(0)} requests/s; served by ` +
      `local-a ${served['local-a']}, local-b ${served['local-b']}, neither ${served.unavailable}`,
  );
  console.log(
    `  outcomes counted in bucket documents: ${bucketTotals.requests} (${bucketTotals.failures} failures); ` +
      'outcomes while a breaker is open or half-open are not counted into windows by design',
  );
  console.log('\n== writes per document');
  const show = (title: string, list: typeof rows) => {
    console.log(`  ${title}: ${list.length} documents`);
    if (list.length === 0) return;
    console.log(
      `    max writes to one document in any one second: ${Math.max(...list.map((r) => r.maxPerSecond))}; ` +
        `mean rate per document while written: ${(list.reduce((s, r) => s + r.meanPerSecond, 0) / list.length).toFixed(2)}/s ` +
        `(highest ${Math.max(...list.map((r) => r.meanPerSecond)).toFixed(2)}/s)`,
    );
  };
  show('bucket documents (breakerBuckets/*)', bucketRows);
  show('state documents (breakers/*)', stateRows);
  for (const r of stateRows) console.log(`    ${r.doc}: ${r.writes} writes (transitions and probe permits)`);
  console.log(
    `  all breaker writes: ${totalWrites} for ${issued} requests = ${(totalWrites / Math.max(1, issued)).toFixed(4)} per request, ` +
      `${(totalWrites / elapsedS).toFixed(2)}/s`,
  );
  console.log(
    `  reads: ${reads.records} state documents and ${reads.queries} window queries ` +
      `(${(reads.queries / INSTANCES / elapsedS).toFixed(2)} queries/s per instance)`,
  );
  console.log('\n== transitions (audited once each, by the instance that made them)');
  for (const { at, event } of audit) {
    const b = event.breaker!;
    console.log(
      `  +${((at - started) / 1000).toFixed(1).padStart(5)} s  ${event.eventType.padEnd(20)} ${b.provider}  ` +
        `${b.windowFailures}/${b.windowRequests} failed`,
    );
  }
  if (warnings.length > 0) {
    console.log('\n== warnings');
    for (const w of warnings) console.log(`  ${w}`);
  }
}

await main();
