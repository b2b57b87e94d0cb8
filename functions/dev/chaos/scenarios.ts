/**
 * The chaos scenarios (`npm run chaos`, and the short ones inside `npm test`): faults injected into a local
 * stack of its own while clients send bounded load, each judged by invariants, not timings:
 *
 * - every key ends with exactly one answer, and a replay of it gives the same inference id;
 * - model calls ≤ keys + keys in flight when the fault struck (a crash or stall may cost each of those one
 *   extra call, never more);
 * - no review item lost: every 202 is listed by the reviewer API and the outbox is drained;
 * - no 5xx other than 503 with Retry-After;
 * - the audit trail verifies (hash chains) and is complete (every decision in Firestore has its events);
 * - every model call is accounted for in the audit trail: by an attempt an event lists, or by the
 *   abandonment of a claim whose holder died (which does not know its calls: up to one per provider);
 * - every function's memory stays under its limit (512 MiB, terraform/locals.tf).
 *
 * Clients behave as the contract asks of a real one: the same Idempotency-Key on every retry, honouring
 * Retry-After on 503 and 409, retrying after a connection error.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Firestore } from '@google-cloud/firestore';
import { LocalAuditEventSource } from '../../src/adapters/audit/localAuditEventSource.js';
import { FirestoreDecisionLedger } from '../../src/adapters/firestore/firestoreDecisionLedger.js';
import type { AuditRecord } from '../../src/core/audit/auditQuery.js';
import { DEV_CHAIN_KEY } from '../../src/core/audit/chain.js';
import { verifyChains } from '../../src/core/audit/chainVerifier.js';
import { checkCompleteness } from '../../src/core/audit/completeness.js';
import type { AuditEvent } from '../../src/core/audit/events.js';
import { PROJECT_ROOT } from '../emulators.js';
import { processMemoryMiB } from '../machine.js';
import { faults } from '../modelServer/behaviour.js';
import { killGroupSync } from '../processes.js';
import { anyFreePorts, type RunningStack, type StackPartInfo, startStack } from '../stack.js';

/** The functions' memory limit in production (terraform/locals.tf: 512Mi each). */
export const MEMORY_LIMIT_MIB = 512;
/** The stack's lease: a crashed holder's key is taken over after this (the shortest the local chain allows). */
const LEASE_SECONDS = 10;
/** The stack's review intake grace (REVIEW_INTAKE_GRACE_SECONDS; 300 by default). */
const INTAKE_GRACE_SECONDS = 30;
/**
 * The stack's audit repair grace (AUDIT_PENDING_GRACE_SECONDS; 60 by default): an event a killed function
 * never emitted is re-emitted by the sweep (every 10 s locally) this long after its commit, well inside the
 * minute the audit check waits for completeness.
 */
const AUDIT_PENDING_GRACE_SECONDS = 15;
const NOTE =
  'Patient takes metformin 500 mg PO BID and lisinopril 10 mg daily. Started atorvastatin 40 mg qhs. ' +
  'History of hypertension and type 2 diabetes mellitus.';

export type ChaosStack = {
  stack: RunningStack;
  part(name: string): StackPartInfo;
  auditFile: string;
  /** When the stack started: every audit chain of the run begins after it. */
  startedAt: Date;
  firestore: Firestore;
  stop(): Promise<void>;
};

/** A local stack of its own, on free ports, with its own audit file. */
export async function startChaosStack(log: (line: string) => void = () => undefined): Promise<ChaosStack> {
  const startedAt = new Date();
  const runDir = path.join(PROJECT_ROOT, '.data', 'chaos', startedAt.toISOString().replace(/[:.]/g, '-'));
  const auditFile = path.join(runDir, 'audit.jsonl');
  const stack = await startStack({
    env: {
      ...process.env,
      ...anyFreePorts(),
      // The stack starts its own emulators: never the ones a test run or `npm start` uses.
      FIRESTORE_EMULATOR_HOST: '',
      PUBSUB_EMULATOR_HOST: '',
      REVIEW_JOBS_URL: '',
      AUDIT_LOG_FILE: auditFile,
      AUDIT_TO_STDOUT: 'false',
      IDEMPOTENCY_LEASE_SECONDS: String(LEASE_SECONDS),
      // A review request Pub/Sub accepted but the intake never took in is sent again by the sweep (every
      // 10 s locally) after this grace: long enough that a request merely delayed by a scenario's fault (a
      // 20 s Pub/Sub stall) is taken in first, short enough that a lost one is listed within the wait.
      REVIEW_INTAKE_GRACE_SECONDS: String(INTAKE_GRACE_SECONDS),
      AUDIT_PENDING_GRACE_SECONDS: String(AUDIT_PENDING_GRACE_SECONDS),
      // The Pub/Sub emulator retries a failed push at once, ignoring the subscription's backoff: its 5
      // attempts are spent in the second a crashed intake takes to come back, where Pub/Sub's (10 s doubling)
      // last minutes. 100 attempts give the emulator about the time Pub/Sub's 5 take.
      REVIEW_MAX_DELIVERY_ATTEMPTS: '100',
    },
    log,
    functionLogDir: path.join(runDir, 'logs'),
  });
  const part = (name: string) => {
    const found = stack.parts.find((p) => p.name === name);
    if (!found) throw new Error(`no part ${name} in the stack`);
    return found;
  };
  const previous = process.env.FIRESTORE_EMULATOR_HOST;
  process.env.FIRESTORE_EMULATOR_HOST = stack.env.FIRESTORE_EMULATOR_HOST;
  const firestore = new Firestore({ projectId: stack.env.GOOGLE_CLOUD_PROJECT });
  if (previous === undefined) delete process.env.FIRESTORE_EMULATOR_HOST;
  else process.env.FIRESTORE_EMULATOR_HOST = previous;
  return {
    stack,
    part,
    auditFile,
    startedAt,
    firestore,
    stop: async () => {
      await firestore.terminate();
      await stack.stop();
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Clients

type KeyOutcome = {
  key: string;
  statuses: number[];
  final: number;
  inferenceId: string | null;
  /** 5xx answers other than 503 with Retry-After. */
  violations: string[];
};

const RETRY_AFTER_CAP_S = 15;
const KEY_GIVE_UP_MS = 240_000;

/** One key, sent until it gets an answer, as a client following the contract would. */
async function driveKey(url: string, tenant: string, key: string): Promise<KeyOutcome> {
  const outcome: KeyOutcome = { key, statuses: [], final: 0, inferenceId: null, violations: [] };
  const giveUpAt = Date.now() + KEY_GIVE_UP_MS;
  while (Date.now() < giveUpAt) {
    let res: Response;
    let text: string;
    try {
      res = await fetch(`${url}/v1/inferences`, {
        method: 'POST',
        headers: {
          authorization: `Bearer dev:${tenant}:clinician:chaos`,
          'content-type': 'application/json',
          'idempotency-key': key,
        },
        body: JSON.stringify({ task: 'medication-extraction', input: { text: NOTE } }),
        signal: AbortSignal.timeout(90_000),
      });
      text = await res.text();
    } catch {
      outcome.statuses.push(0); // connection refused or reset (an instance died): retry shortly
      await sleep(1_000);
      continue;
    }
    outcome.statuses.push(res.status);
    const retryAfter = Number(res.headers.get('retry-after'));
    const hasRetryAfter = Number.isFinite(retryAfter) && retryAfter > 0;
    if (res.status >= 500 && !(res.status === 503 && hasRetryAfter)) {
      outcome.violations.push(`${res.status}${hasRetryAfter ? '' : ' without Retry-After'}`);
    }
    if (res.status === 503 || res.status === 409 || res.status === 429 || res.status >= 500) {
      await sleep(Math.min(hasRetryAfter ? retryAfter : 1, RETRY_AFTER_CAP_S) * 1000);
      continue;
    }
    outcome.final = res.status;
    try {
      outcome.inferenceId = (JSON.parse(text) as { id?: string }).id ?? null;
    } catch {
      outcome.inferenceId = null;
    }
    return outcome;
  }
  return outcome;
}

/** The second answer to a key (sent as a client does, shed answers retried): the first one replayed. */
async function replayMismatch(url: string, tenant: string, o: KeyOutcome): Promise<string | null> {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(`${url}/v1/inferences`, {
      method: 'POST',
      headers: {
        authorization: `Bearer dev:${tenant}:clinician:chaos`,
        'content-type': 'application/json',
        'idempotency-key': o.key,
      },
      body: JSON.stringify({ task: 'medication-extraction', input: { text: NOTE } }),
    });
    const body = (await res.json()) as { id?: string };
    const retryAfter = Number(res.headers.get('retry-after'));
    if (res.status === 503 && retryAfter > 0 && attempt < 20) {
      await sleep(Math.min(retryAfter, RETRY_AFTER_CAP_S) * 1000);
      continue;
    }
    const replayed = res.headers.get('idempotent-replayed') === 'true';
    if (res.status === o.final && replayed && body.id === o.inferenceId) return null;
    return `${o.final} ${o.inferenceId} then ${res.status}${replayed ? ' replayed' : ''} ${body.id ?? ''} (statuses ${o.statuses.join(',')})`;
  }
}

type Load = {
  outcomes: Promise<KeyOutcome[]>;
  /** Keys started and not yet answered. */
  inFlight(): number;
  /** The rate at which new keys were actually started (keys per second), once all are. */
  offeredRate: Promise<number>;
};

/**
 * `keys` keys started at `rate` per second (each retried by its own client until answered). Keys are started
 * by the clock, not by one timer per key: every tick starts all the keys due by then, so timer granularity
 * and a busy event loop delay keys but do not lower the rate. What the client could really offer on this
 * machine is measured and reported, not assumed.
 */
function startLoad(url: string, tenant: string, keys: number, rate: number): Load {
  let open = 0;
  let offered: (rate: number) => void = () => undefined;
  const offeredRate = new Promise<number>((resolve) => {
    offered = resolve;
  });
  const outcomes = (async () => {
    const running: Promise<KeyOutcome>[] = [];
    const start = performance.now();
    while (running.length < keys) {
      const due = Math.min(keys, Math.floor(((performance.now() - start) / 1000) * rate) + 1);
      while (running.length < due) {
        open++;
        running.push(driveKey(url, tenant, `chaos-${randomUUID()}`).finally(() => open--));
      }
      if (running.length < keys) await sleep(Math.max(1, 1000 / rate));
    }
    const elapsedS = (performance.now() - start) / 1000;
    // The first key starts at 0 s and the last at `elapsedS`: keys - 1 intervals.
    offered(keys > 1 && elapsedS > 0 ? (keys - 1) / elapsedS : rate);
    return Promise.all(running);
  })();
  return { outcomes, inFlight: () => open, offeredRate };
}

// ---------------------------------------------------------------------------------------------------------
// Scenarios

export type ScenarioContext = {
  chaos: ChaosStack;
  tenant: string;
  log: (line: string) => void;
};

export type Scenario = {
  name: string;
  /** Under a minute together with the other short ones: these also run inside `npm test`. */
  short: boolean;
  keys: number;
  rate: number;
  /** Model behaviour during the scenario (both servers unless `faultyOnly`). */
  behaviour?: Record<string, unknown>;
  /** Only local-a gets `behaviour`; the calls counted against the keys are local-b's (the fallback). */
  faultyOnly?: boolean;
  /** Injects the fault while the load runs; resolves with the keys in flight when it struck. */
  inject?: (ctx: ScenarioContext, load: Load) => Promise<number>;
  /**
   * For an overload scenario: the stack's capacity in new keys per second. The verdict then says how many
   * times that the client really offered, which on a small machine can be less than `rate` asks.
   */
  capacity?: number;
};

const functionNames = ['inference API', 'reviewer API', 'review jobs', 'review intake'] as const;

const stall =
  (part: 'Firestore emulator' | 'Pub/Sub emulator', seconds: number) =>
  async ({ chaos, log }: ScenarioContext, load: Load): Promise<number> => {
    await sleep(1_500);
    const pid = chaos.part(part).pid!;
    const inFlight = load.inFlight();
    log(`  SIGSTOP ${part} (process group ${pid}) for ${seconds} s`);
    killGroupSync(pid, 'SIGSTOP');
    try {
      await sleep(seconds * 1000);
    } finally {
      killGroupSync(pid, 'SIGCONT');
    }
    return inFlight;
  };

const kill =
  (name: (typeof functionNames)[number]) =>
  async ({ chaos, log }: ScenarioContext, load: Load): Promise<number> => {
    await sleep(1_500);
    const part = chaos.part(name);
    const restarts = part.restarts ?? 0;
    const inFlight = load.inFlight();
    log(`  SIGKILL ${name} (pid ${part.pid})`);
    process.kill(part.pid!, 'SIGKILL');
    while ((part.restarts ?? 0) === restarts) await sleep(100);
    log(`  ${name} restarted (pid ${part.pid})`);
    return inFlight;
  };

const lowConfidence = { confidence: 0.45 };

export const scenarios: readonly Scenario[] = [
  { name: 'baseline', short: false, keys: 40, rate: 20, behaviour: lowConfidence },
  { name: 'firestore-stall-10s', short: true, keys: 120, rate: 10, inject: stall('Firestore emulator', 10) },
  { name: 'firestore-stall-70s', short: false, keys: 200, rate: 5, inject: stall('Firestore emulator', 70) },
  {
    name: 'pubsub-stall-20s',
    short: false,
    keys: 150,
    rate: 6,
    behaviour: lowConfidence,
    inject: stall('Pub/Sub emulator', 20),
  },
  ...functionNames.map(
    (name): Scenario => ({
      name: `kill-${name.replace(/ /g, '-').toLowerCase()}`,
      short: name === 'review jobs',
      keys: 80,
      rate: 20,
      behaviour: { ...lowConfidence, latencyMs: 200 },
      inject: kill(name),
    }),
  ),
  ...faults.map(
    (fault): Scenario => ({
      name: `provider-${fault}`,
      short: fault === 'wrong-schema',
      keys: 40,
      rate: 20,
      behaviour: { fault },
      faultyOnly: true,
    }),
  ),
  // Capacity: MAX_CONCURRENT_REQUESTS (80) in flight; 200 ms model calls, so 400 req/s, and 2× is 800/s.
  {
    name: 'overload-2x',
    short: false,
    keys: 400,
    rate: 800,
    behaviour: { latencyMs: 200 },
    capacity: 400,
  },
];

// ---------------------------------------------------------------------------------------------------------
// Running and judging

export type ScenarioResult = {
  name: string;
  keys: number;
  /** New keys per second the scenario asked for, and what the client really started. */
  rate: number;
  offeredRate: number;
  /** For an overload scenario: the offered rate as a multiple of the stack's capacity. */
  overload: number | null;
  requests: number;
  statuses: Record<string, number>;
  doubleCalls: number;
  lostItems: number;
  recoveryMs: number | null;
  peakRssMiB: number;
  failures: string[];
};

export async function runScenario(
  chaos: ChaosStack,
  scenario: Scenario,
  log: (line: string) => void = () => undefined,
): Promise<ScenarioResult> {
  const tenant = `chaos${randomUUID().slice(0, 8)}`;
  const providers = ['local-a', 'local-b'];
  const models = providers.map((name) => chaos.part(`model ${name}`).address);
  await Promise.all(models.map((url) => fetch(`${url}/admin/reset`, { method: 'POST' })));
  const faulty = scenario.faultyOnly ? models.slice(0, 1) : models;
  if (scenario.behaviour) {
    for (const url of faulty) {
      const res = await fetch(`${url}/admin/behaviour`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(scenario.behaviour),
      });
      if (res.status !== 204) throw new Error(`model server refused ${JSON.stringify(scenario.behaviour)}`);
    }
  }
  const started = new Date();
  let peakRssMiB = 0;
  const sampler = setInterval(() => {
    for (const name of functionNames) peakRssMiB = Math.max(peakRssMiB, rssMiB(chaos.part(name).pid));
  }, 250);
  try {
    const url = chaos.part('inference API').address;
    const load = startLoad(url, tenant, scenario.keys, scenario.rate);
    const inFlightAtFault = scenario.inject ? await scenario.inject({ chaos, tenant, log }, load) : 0;
    const faultEnded = Date.now();
    const outcomes = await load.outcomes;
    const offeredRate = await load.offeredRate;
    const failures: string[] = [];

    // Every key: exactly one answer, replayed as it was.
    const unanswered = outcomes.filter((o) => o.final !== 200 && o.final !== 202);
    if (unanswered.length > 0) {
      failures.push(
        `${unanswered.length} keys without a 200/202 answer (last statuses ${unanswered
          .slice(0, 3)
          .map((o) => o.statuses.slice(-3).join(','))
          .join('; ')})`,
      );
    }
    const answered = outcomes.filter((o) => o.final === 200 || o.final === 202);
    const replays = await Promise.all(answered.map((o) => replayMismatch(url, tenant, o)));
    const mismatched = replays.filter((m): m is string => m !== null);
    if (mismatched.length > 0) {
      failures.push(`${mismatched.length} keys replayed a different answer (${mismatched[0]})`);
    }

    // Model calls.
    const countedFrom = scenario.faultyOnly ? 1 : 0;
    const counted = models.slice(countedFrom);
    const calls = (
      await Promise.all(
        counted.map(
          async (u) => ((await (await fetch(`${u}/admin/stats`)).json()) as { requests: number }).requests,
        ),
      )
    ).reduce((a, b) => a + b, 0);
    const doubleCalls = Math.max(0, calls - scenario.keys);
    if (calls > scenario.keys + inFlightAtFault) {
      failures.push(
        `${calls} model calls for ${scenario.keys} keys (${inFlightAtFault} in flight at the fault)`,
      );
    }

    // 5xx other than 503 with Retry-After.
    const violations = outcomes.flatMap((o) => o.violations);
    if (violations.length > 0)
      failures.push(`${violations.length} answers ${[...new Set(violations)].join(', ')}`);

    // Review items: every 202 listed, outbox drained.
    const pending = answered.filter((o) => o.final === 202).map((o) => o.inferenceId!);
    const { lost, recoveredAt } = await awaitReviewItems(chaos, tenant, pending);
    if (lost > 0) failures.push(`${lost} review items not listed`);
    const undelivered = await undeliveredOutbox(chaos, started);
    if (undelivered > 0) failures.push(`${undelivered} outbox entries undelivered`);

    // Audit trail.
    failures.push(
      ...(await auditFindings(chaos, tenant, started, { calls, providers: providers.slice(countedFrom) })),
    );

    if (peakRssMiB >= MEMORY_LIMIT_MIB) failures.push(`peak RSS ${peakRssMiB.toFixed(0)} MiB`);

    const statuses: Record<string, number> = {};
    for (const status of outcomes.flatMap((o) => o.statuses)) {
      const label = status === 0 ? 'conn' : String(status);
      statuses[label] = (statuses[label] ?? 0) + 1;
    }
    const firstAnswerAfterFault = scenario.inject ? recoveryAfter(faultEnded, recoveredAt) : null;
    return {
      name: scenario.name,
      keys: scenario.keys,
      rate: scenario.rate,
      offeredRate,
      overload: scenario.capacity ? offeredRate / scenario.capacity : null,
      requests: outcomes.reduce((n, o) => n + o.statuses.length, 0),
      statuses,
      doubleCalls,
      lostItems: lost,
      recoveryMs: firstAnswerAfterFault,
      peakRssMiB,
      failures,
    };
  } finally {
    clearInterval(sampler);
  }
}

const recoveryAfter = (faultEnded: number, recoveredAt: number | null) =>
  recoveredAt === null ? null : Math.max(0, recoveredAt - faultEnded);

/**
 * Waits (up to two minutes: the outbox sweeper's worst case) until the reviewer API lists every pending
 * inference; resolves with how many never appeared and when the last one did.
 */
async function awaitReviewItems(
  chaos: ChaosStack,
  tenant: string,
  inferenceIds: readonly string[],
): Promise<{ lost: number; recoveredAt: number | null }> {
  const reviewer = chaos.part('reviewer API').address;
  const giveUpAt = Date.now() + 120_000;
  let missing = new Set(inferenceIds);
  while (missing.size > 0 && Date.now() < giveUpAt) {
    const res = await fetch(`${reviewer}/v1/reviews?state=pending&limit=200`, {
      headers: { authorization: `Bearer dev:${tenant}:reviewer:chaos` },
    }).catch(() => null);
    if (res?.status === 200) {
      const listed = new Set(
        ((await res.json()) as { items: { inferenceId: string }[] }).items.map((i) => i.inferenceId),
      );
      missing = new Set([...missing].filter((id) => !listed.has(id)));
    }
    if (missing.size > 0) await sleep(250);
  }
  return { lost: missing.size, recoveredAt: missing.size === 0 ? Date.now() : null };
}

async function undeliveredOutbox(chaos: ChaosStack, since: Date): Promise<number> {
  const giveUpAt = Date.now() + 120_000;
  for (;;) {
    const snap = await chaos.firestore
      .collection('reviewOutbox')
      .where('published', '==', false)
      .where('createdAt', '>=', since)
      .count()
      .get();
    const left = snap.data().count;
    if (left === 0 || Date.now() > giveUpAt) return left;
    await sleep(500);
  }
}

/**
 * Counts, in the events of `tenant` passed to `visit`, what accounts for model calls to `providers`: each
 * attempt an event lists that reached a provider (not skipped by an open breaker) is one call; an abandoned
 * claim (its holder died, its calls unknown) may account for one call to each provider. `unaccounted` is
 * what of `calls` is left over.
 */
function callAccounting(tenant: string, providers: readonly string[]) {
  const seen = new Set<string>();
  let audited = 0;
  let abandoned = 0;
  return {
    visit(record: AuditRecord): void {
      if (!record.ok) return;
      const event = record.event as AuditEvent;
      // A re-emitted copy (the repair sweep) is the same event.
      if (event.tenant !== tenant || seen.has(event.eventId)) return;
      seen.add(event.eventId);
      if (event.decision?.failureReason === 'abandoned') abandoned++;
      for (const attempt of event.decision?.routing?.attempts ?? []) {
        if (attempt.outcome !== 'skipped_open' && providers.includes(attempt.provider)) audited++;
      }
    },
    unaccounted: (calls: number) => Math.max(0, calls - audited - abandoned * providers.length),
  };
}

/** Passes each record on, after showing it to `visit`. */
async function* tap(records: AsyncIterable<AuditRecord>, visit: (record: AuditRecord) => void) {
  for await (const record of records) {
    visit(record);
    yield record;
  }
}

/**
 * `audit:verify` and `audit:completeness` over the scenario's time range, by the core functions, and, in the
 * same read of the trail, whether every model call (`calls`) is accounted for.
 */
async function auditFindings(
  chaos: ChaosStack,
  tenant: string,
  started: Date,
  models: { calls: number; providers: readonly string[] },
): Promise<string[]> {
  const source = new LocalAuditEventSource(chaos.auditFile);
  const findings: string[] = [];
  // Events of a commit whose outcome was unknown are emitted after a read-back (seconds later).
  for (let attempt = 0; ; attempt++) {
    const range = { from: new Date(started.getTime() - 60_000), to: new Date(Date.now() + 60_000) };
    const completeness = await checkCompleteness(
      new FirestoreDecisionLedger(chaos.firestore),
      source,
      range,
      {
        tenant,
      },
    );
    if (completeness.incomplete.length === 0) break;
    if (attempt === 20) {
      findings.push(`audit incomplete for ${completeness.incomplete.length} decisions`);
      break;
    }
    await sleep(3_000);
  }
  // The chains this scenario wrote to (read whole, from the stack's start): a problem of an earlier scenario
  // is that scenario's finding, not repeated in every verdict after it.
  const accounting = callAccounting(tenant, models.providers);
  const verification = await verifyChains(
    tap(
      source.chains({
        kind: 'range',
        range: { from: started, to: new Date(Date.now() + 60_000) },
        since: chaos.startedAt,
      }),
      accounting.visit,
    ),
    new Map([[DEV_CHAIN_KEY.id, DEV_CHAIN_KEY.secret]]),
  );
  if (verification.problems.length > 0)
    findings.push(`audit chains: ${verification.problems.length} problems`);
  const unaccounted = accounting.unaccounted(models.calls);
  if (unaccounted > 0) findings.push(`${unaccounted} model calls with no audit event`);
  return findings;
}

function rssMiB(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    return processMemoryMiB(pid) || 0;
  } catch {
    return 0; // restarting
  }
}

// ---------------------------------------------------------------------------------------------------------
// Report

export function chaosTable(results: readonly ScenarioResult[]): string {
  const header = [
    'scenario',
    'keys',
    'offered',
    'requests',
    'statuses',
    'double calls',
    'lost items',
    'recovery',
    'peak RSS',
    'verdict',
  ];
  const rows = results.map((r) => [
    r.name,
    String(r.keys),
    offeredCell(r),
    String(r.requests),
    Object.entries(r.statuses)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([status, n]) => `${status}×${n}`)
      .join(' '),
    String(r.doubleCalls),
    String(r.lostItems),
    r.recoveryMs === null ? '-' : `${(r.recoveryMs / 1000).toFixed(1)} s`,
    `${r.peakRssMiB.toFixed(0)} MiB`,
    verdictOf(r),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

/** New keys per second really started; when the client fell short of the rate asked, that too. */
function offeredCell(r: ScenarioResult): string {
  const offered = `${r.offeredRate.toFixed(0)}/s`;
  return r.offeredRate < r.rate * 0.95 ? `${offered} of ${r.rate}/s` : offered;
}

/**
 * Pass or the failures. An overload scenario also says at what load it ran (not the load it asked for) and
 * whether anything was shed at all: invariants that hold while nothing is shed prove nothing about shedding.
 */
export function verdictOf(r: ScenarioResult): string {
  const load =
    r.overload === null
      ? ''
      : ` (at ${r.overload.toFixed(1)}× capacity offered; ${r.statuses['503'] ? `${r.statuses['503']} answers shed` : 'nothing shed'})`;
  return r.failures.length > 0 ? `FAIL: ${r.failures.join('; ')}${load}` : `pass${load}`;
}
