/**
 * Throughput of the inference hot path under concurrent, open-loop load, side by side with the floor
 * prototype (floor.ts: one create(), the model's wait, one write) on the same Firestore emulator.
 *
 *   npm run bench:load                                   # 150 and 300 req/s, 20 s each, 2 rounds
 *   npm run bench:load -- --rates 300 --duration 60 --rounds 1
 *   npm run bench:load -- --rates 600 --scenarios new    # overload: shedding at 2× capacity
 *   npm run bench:load -- --rates 300 --duration 300 --scenarios new --rss-every 60   # memory soak
 *   npm run bench:load -- --rates 150 --rounds 1 --scenarios new,replay --cpu-prof .data/prof   # profile
 *   npm run bench:load -- --scenarios new --node-options=--max-semi-space-size=16   # V8 options to compare
 *
 * (`--node-options` takes its value after `=`: a separate value that starts with a dash is refused as
 * ambiguous.)
 *
 * Starts its own local stack on free ports (emulators, model servers with `latencyMs` 50, the functions as
 * Functions Framework processes) and the floor prototype, and warms both servers at every measured rate
 * (`--warmup` seconds each, printed as round "warm-up"). For each round and rate it runs, interleaved:
 * the floor, the gateway with a new Idempotency-Key per request, and the gateway replaying completed keys.
 * Load is open-loop at a fixed arrival rate (autocannon `overallRate`, with far more connections than the
 * rate needs, so that a slow answer never holds back the next request), spread over the second by running
 * `--slices` generators a fraction of a second apart (one alone sends each second's requests in one burst). Latency percentiles are of
 * accepted (2xx) answers; shed answers (503 with Retry-After) are counted apart. CPU is the inference API
 * process's user+system time from /proc/<pid>/stat over the run, divided by the requests it served (2xx):
 * what shedding cost is charged to the served requests, so shedding never makes the figure look cheaper.
 * The floor's CPU is measured the same way, so the CPU figures compare as a ratio in one run too. The whole
 * machine's busy and steal shares (/proc/stat) say whether a run was short of CPU, or shared with another
 * machine on the same host (steal), which is what makes runs on a shared VM differ. RSS is the
 * inference API's resident memory at the end of the run, and its peak since it started (the floor's: its own).
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { createGatewayClient } from '../../client/gatewayClient.js';
import { PROJECT_ROOT } from '../emulators.js';
import { describeMachine, machineTicks, processCpuMs, processMemoryMiB } from '../machine.js';
import { spawnGroup } from '../processes.js';
import { anyFreePorts, startStack } from '../stack.js';
import { benchAuditFile } from './benchAuditFile.js';
import {
  BENCH_TOKEN,
  BENCH_BODY as BODY,
  BENCH_HEADERS as HEADERS,
  BENCH_NOTE as NOTE,
} from './benchRequest.js';
import { percentile } from './percentile.js';

const { values: flags } = parseArgs({
  options: {
    rates: { type: 'string', default: '150,300' },
    duration: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '2' },
    scenarios: { type: 'string', default: 'floor,new,replay' },
    'model-latency': { type: 'string', default: '50' },
    connections: { type: 'string', default: '0' },
    'rss-every': { type: 'string', default: '0' },
    /** Seconds each server runs at every measured rate before round 1 (its rows: round "warm-up"). */
    warmup: { type: 'string', default: '20' },
    /** Load generators per run, started evenly over one second (see `run`). */
    slices: { type: 'string', default: '20' },
    /** Writes a V8 CPU profile of every function process into this folder when the stack stops. */
    'cpu-prof': { type: 'string' },
    /** NODE_OPTIONS for the stack's processes only (V8 flags to compare), not for this runner or the floor. */
    'node-options': { type: 'string', default: '' },
  },
});
const RATES = flags.rates.split(',').map(Number);
const DURATION_S = Number(flags.duration);
const ROUNDS = Number(flags.rounds);
const SCENARIOS = flags.scenarios.split(',') as Scenario[];
const MODEL_LATENCY_MS = Number(flags['model-latency']);
const RSS_EVERY_S = Number(flags['rss-every']);
const WARMUP_S = Number(flags.warmup);
const SLICES = Math.max(1, Number(flags.slices));
type Scenario = 'floor' | 'new' | 'replay';

type Row = {
  scenario: Scenario;
  round: number;
  rate: number;
  sent: number;
  achieved: number;
  ok: number;
  shed: number;
  other: number;
  errors: number;
  p: Record<'p50' | 'p90' | 'p97_5' | 'p99' | 'max', number>;
  cpuMsPerReq: number | null;
  /** The whole machine during the run: share of all cores busy, and share stolen by the hypervisor. */
  machine: { busyPct: number; stealPct: number };
  rssMiB: number | null;
  peakRssMiB: number | null;
};

async function run(
  url: string,
  rate: number,
  nextKey: () => string,
  pid: number | null,
  durationS: number,
): Promise<Omit<Row, 'scenario' | 'round' | 'rate'>> {
  const latencies: number[] = [];
  const counts = { ok: 0, shed: 0, other: 0 };
  const cpuBefore = pid ? processCpuMs(pid) : 0;
  const machineBefore = machineTicks();
  const rssSamples: string[] = [];
  const started = Date.now();
  const rssTimer =
    pid && RSS_EVERY_S > 0
      ? setInterval(() => {
          rssSamples.push(
            `${Math.round((Date.now() - started) / 1000)}s ${processMemoryMiB(pid).toFixed(0)} MiB`,
          );
        }, RSS_EVERY_S * 1000)
      : null;
  // autocannon paces a rate per second: each connection sends its quota as soon as it can after a tick, and
  // every connection ticks at about the same moment, so one instance offers each second's requests in one
  // burst. SLICES instances, each with 1/SLICES of the rate and started 1/SLICES of a second apart, turn that
  // into a burst of rate/SLICES every 1/SLICES s: close to evenly spaced arrivals.
  const onResponse = (_client: unknown, status: number, _bytes: number, responseTimeMs: number) => {
    if (status >= 200 && status < 300) {
      counts.ok++;
      latencies.push(responseTimeMs);
    } else if (status === 503) counts.shed++;
    else counts.other++;
  };
  const slices = Math.min(SLICES, rate);
  const runs = Array.from({ length: slices }, async (_, i) => {
    const sliceRate = Math.floor(rate / slices) + (i < rate % slices ? 1 : 0);
    await sleep((i * 1000) / slices);
    return new Promise<autocannon.Result>((resolve, reject) => {
      const instance = autocannon(
        {
          url: `${url}/v1/inferences`,
          method: 'POST',
          headers: HEADERS,
          body: BODY,
          overallRate: sliceRate,
          // Open loop: enough connections that two seconds of answers can be outstanding at once.
          connections: Number(flags.connections) || Math.max(10, sliceRate * 2),
          duration: durationS,
          timeout: 30,
          requests: [
            { setupRequest: (req) => ({ ...req, headers: { ...HEADERS, 'idempotency-key': nextKey() } }) },
          ],
        },
        (error, result) => (error ? reject(error) : resolve(result)),
      );
      instance.on('response', onResponse);
    });
  });
  const results = await Promise.all(runs);
  const result = {
    requests: { sent: results.reduce((n, r) => n + r.requests.sent, 0) },
    errors: results.reduce((n, r) => n + r.errors, 0),
    timeouts: results.reduce((n, r) => n + r.timeouts, 0),
  };
  if (rssTimer) clearInterval(rssTimer);
  if (rssSamples.length > 0) console.log(`  rss: ${rssSamples.join(', ')}`);
  const answered = counts.ok + counts.shed + counts.other;
  latencies.sort((a, b) => a - b);
  const cpuMs = pid ? processCpuMs(pid) - cpuBefore : null;
  const machineAfter = machineTicks();
  const machineTotal = Math.max(1, machineAfter.total - machineBefore.total);
  return {
    sent: result.requests.sent,
    achieved: answered / durationS,
    ...counts,
    errors: result.errors + result.timeouts,
    p: {
      p50: percentile(latencies, 50),
      p90: percentile(latencies, 90),
      p97_5: percentile(latencies, 97.5),
      p99: percentile(latencies, 99),
      max: latencies.at(-1) ?? Number.NaN,
    },
    cpuMsPerReq: cpuMs !== null && counts.ok > 0 ? cpuMs / counts.ok : null,
    machine: {
      busyPct: (100 * (machineAfter.busy - machineBefore.busy)) / machineTotal,
      stealPct: (100 * (machineAfter.steal - machineBefore.steal)) / machineTotal,
    },
    rssMiB: pid ? processMemoryMiB(pid) : null,
    peakRssMiB: pid ? processMemoryMiB(pid, 'VmHWM') : null,
  };
}

/**
 * Completed keys for the replay scenario: made once, at a gentle rate, before any measurement, through the
 * typed client generated from the OpenAPI document (functions/client).
 */
async function primeReplays(url: string, count: number): Promise<string[]> {
  const client = createGatewayClient({ baseUrl: url, token: () => BENCH_TOKEN });
  const keys: string[] = [];
  const batch = 20;
  for (let i = 0; i < count; i += batch) {
    const made = await Promise.all(
      Array.from({ length: Math.min(batch, count - i) }, async () => {
        const key = `replay-${randomUUID()}`;
        const { response } = await client.POST('/v1/inferences', {
          params: { header: { 'Idempotency-Key': key } },
          body: { task: 'medication-extraction', input: { text: NOTE } },
        });
        return response.status === 200 || response.status === 202 ? key : null;
      }),
    );
    keys.push(...made.filter((k): k is string => k !== null));
  }
  return keys;
}

const fmt = (n: number | null, digits = 0) => (n === null || Number.isNaN(n) ? '-' : n.toFixed(digits));

function printTable(rows: Row[]): void {
  const header = [
    'scenario',
    'round',
    'rate',
    'achieved/s',
    'p50',
    'p90',
    'p97.5',
    'p99',
    'max',
    '2xx',
    '503',
    'other',
    'errors',
    'cpu ms/2xx',
    'rss MiB',
    'peak MiB',
    'machine busy %',
    'steal %',
  ];
  const lines = rows.map((r) => [
    r.scenario === 'new' ? 'gateway new key' : r.scenario === 'replay' ? 'gateway replay' : 'floor',
    r.round === 0 ? 'warm-up' : String(r.round),
    String(r.rate),
    fmt(r.achieved, 1),
    fmt(r.p.p50),
    fmt(r.p.p90),
    fmt(r.p.p97_5),
    fmt(r.p.p99),
    fmt(r.p.max),
    String(r.ok),
    String(r.shed),
    String(r.other),
    String(r.errors),
    fmt(r.cpuMsPerReq, 2),
    fmt(r.rssMiB),
    fmt(r.peakRssMiB),
    fmt(r.machine.busyPct),
    fmt(r.machine.stealPct, 1),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const show = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(show(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const line of lines) console.log(show(line));
}

function printRatios(rows: Row[]): void {
  // Of an even count, the mean of the middle two: with two rounds, neither the better nor the worse one alone.
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    if (s.length === 0) return Number.NaN;
    const mid = s.length / 2;
    return Number.isInteger(mid) ? (s[mid - 1]! + s[mid]!) / 2 : s[Math.floor(mid)]!;
  };
  console.log(
    '\nRatios (median over rounds; targets: new p50 ≤ 1.3×, new p97.5 ≤ 1.5× floor; replay p97.5 ≤ floor p50)',
  );
  for (const rate of RATES) {
    const medianOf = (s: Scenario, pick: (r: Row) => number) =>
      median(rows.filter((r) => r.scenario === s && r.rate === rate && r.round > 0).map(pick));
    const of = (s: Scenario, k: keyof Row['p']) => medianOf(s, (r) => r.p[k]);
    const cpu = (s: Scenario) => medianOf(s, (r) => r.cpuMsPerReq ?? Number.NaN);
    const floor50 = of('floor', 'p50');
    const floor975 = of('floor', 'p97_5');
    const floorCpu = cpu('floor');
    console.log(
      `  ${rate} req/s: new/floor p50 ${fmt(of('new', 'p50') / floor50, 2)}×, p97.5 ${fmt(of('new', 'p97_5') / floor975, 2)}×; ` +
        `replay p97.5 / floor p50 ${fmt(of('replay', 'p97_5') / floor50, 2)}×; ` +
        `CPU per answer: floor ${fmt(floorCpu, 2)} ms, new key ${fmt(cpu('new') / floorCpu, 2)}× it, replay ${fmt(cpu('replay') / floorCpu, 2)}×`,
    );
  }
}

/** Settings compared between runs: they apply to the gateway's processes, never to the floor. */
const COMPARED_SETTINGS = [
  'NODE_OPTIONS',
  'MALLOC_ARENA_MAX',
  'MAX_CONCURRENT_REQUESTS',
  'FIRESTORE_PREFER_REST',
];

/** The floor's environment: the emulator it shares with the stack, none of the settings being compared. */
function floorEnv(stackEnv: Readonly<Record<string, string | undefined>>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of COMPARED_SETTINGS) delete env[name];
  // The Firestore SDK's tracing is no part of what an answer needs: off, as in the functions (stack.ts).
  for (const name of [
    'FIRESTORE_EMULATOR_HOST',
    'GOOGLE_CLOUD_PROJECT',
    'METADATA_SERVER_DETECTION',
    'FIRESTORE_ENABLE_TRACING',
  ]) {
    if (stackEnv[name] !== undefined) env[name] = stackEnv[name];
  }
  return env;
}

/** NODE_OPTIONS of the stack's processes: `--node-options`, and the CPU profiler when asked for. */
function nodeOptions(): { NODE_OPTIONS?: string } {
  const options = [
    flags['node-options'],
    flags['cpu-prof'] ? `--cpu-prof --cpu-prof-dir=${path.resolve(flags['cpu-prof'])}` : '',
  ].filter(Boolean);
  return options.length > 0 ? { NODE_OPTIONS: options.join(' ') } : {};
}

async function main(): Promise<void> {
  const lines: string[] = [];
  const stack = await startStack({
    env: {
      ...process.env,
      ...anyFreePorts(),
      AUDIT_LOG_FILE: benchAuditFile('bench-load-audit.jsonl'),
      ...nodeOptions(),
    },
    log: (line) => void lines.push(line),
    functionLogDir: path.join(PROJECT_ROOT, '.data', 'logs', 'bench-load'),
  });
  const part = (name: string) => stack.parts.find((p) => p.name === name)!;
  const inference = part('inference API');
  const pid = inference.pid ?? null;
  for (const name of ['model local-a', 'model local-b']) {
    const res = await fetch(`${part(name).address}/admin/behaviour`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ latencyMs: MODEL_LATENCY_MS }),
    });
    if (res.status !== 204) throw new Error(`${name}: could not set latency (${res.status})`);
  }

  let floorUrl = '';
  const floor = await spawnGroup(
    process.execPath,
    ['--import', 'tsx', 'functions/dev/bench/floor.ts', '0', String(MODEL_LATENCY_MS)],
    {
      name: 'floor',
      cwd: PROJECT_ROOT,
      env: floorEnv(stack.env),
      output: {
        onLine: (line) => {
          const port = /^listening (\d+)/.exec(line)?.[1];
          if (port) floorUrl = `http://127.0.0.1:${port}`;
        },
      },
    },
  );
  try {
    while (!floorUrl) await sleep(50);
    console.log('Inference hot path under open-loop load (npm run bench:load)');
    console.log(`machine: ${describeMachine()}`);
    console.log(
      `settings: rates ${RATES.join(', ')} req/s, ${DURATION_S} s each, ${ROUNDS} round(s), scenarios ${SCENARIOS.join(', ')}; ` +
        `model servers latencyMs ${MODEL_LATENCY_MS}; Firestore emulator ${stack.env.FIRESTORE_EMULATOR_HOST}; ` +
        `task medication-extraction, ${NOTE.length}-char note`,
    );
    const set = COMPARED_SETTINGS.filter((name) => stack.env[name]).map(
      (name) => `${name}=${stack.env[name]}`,
    );
    if (set.length > 0) console.log(`function environment: ${set.join(' ')}`);
    const replayKeys = SCENARIOS.includes('replay')
      ? await primeReplays(inference.address, Math.min(3_000, Math.max(...RATES) * 5))
      : [];
    // Warm both servers before anything is measured: the JIT, the connection pools, V8's heap sizing. Over its
    // first few thousand requests a fresh inference API spends about a third more CPU per request, with a tail
    // to match (docs/benchmarks.md), so each server first runs WARMUP_S at every rate that is measured. Those
    // rows are printed (round "warm-up": what a cold instance costs) and left out of the ratios.
    const rows: Row[] = [];
    /** One run of `scenario` at `rate`, kept as a row of `round` (0: the warm-up). */
    const measure = async (scenario: Scenario, round: number, rate: number, durationS: number) => {
      let i = 0;
      const measured =
        scenario === 'floor'
          ? await run(floorUrl, rate, () => randomUUID(), floor.pid, durationS)
          : scenario === 'new'
            ? await run(inference.address, rate, () => randomUUID(), pid, durationS)
            : await run(inference.address, rate, () => replayKeys[i++ % replayKeys.length]!, pid, durationS);
      rows.push({ scenario, round, rate, ...measured });
      console.log(
        `  ${round === 0 ? 'warm-up' : `round ${round}`}, ${rate} req/s, ${scenario}: ${measured.ok} ok, ${measured.shed} shed, p50 ${fmt(measured.p.p50)} ms`,
      );
    };
    if (WARMUP_S > 0) {
      await run(inference.address, 50, () => randomUUID(), null, 5); // connections and first compiles
      for (const rate of RATES) {
        for (const scenario of SCENARIOS.filter((s) => s !== 'replay'))
          await measure(scenario, 0, rate, WARMUP_S);
      }
    }
    for (let round = 1; round <= ROUNDS; round++) {
      for (const rate of RATES) {
        for (const scenario of SCENARIOS) await measure(scenario, round, rate, DURATION_S);
      }
    }
    console.log(
      '\nLatency in ms of accepted (2xx) answers; 503 = shed with Retry-After; errors = connection errors and timeouts',
    );
    printTable(rows);
    if (SCENARIOS.includes('floor')) printRatios(rows);
  } finally {
    await floor.stop();
    await stack.stop();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
