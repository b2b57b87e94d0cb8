/**
 * CPU and memory per request of the inference API, for settings of its environment compared side by side:
 * each variant gets its own local stack (model servers at `latencyMs` 50), and variants alternate, so that on
 * a shared, noisy machine they see the same conditions on average. Load is closed-loop with a fixed number of
 * connections and a fixed number of requests: the work is the same whatever the latency, so the inference
 * API's CPU time (user+system, /proc/<pid>/stat) divided by its 2xx answers is comparable between runs where
 * open-loop latency figures (npm run bench:load) are not.
 *
 *   npm run bench:per-request                      # the functions' runtime settings against V8's defaults
 *   npm run bench:per-request -- --variants '{"rest":{"FIRESTORE_PREFER_REST":"true"},"grpc":{}}' --order grpc,rest,grpc,rest
 *
 * Per variant: new keys (16 connections), replays of those keys, new keys at 64 connections; then the RSS
 * and the peak RSS of the inference API.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { PROJECT_ROOT } from '../emulators.js';
import { processCpuMs, processMemoryMiB } from '../machine.js';
import { anyFreePorts, startStack } from '../stack.js';
import { benchAuditFile } from './benchAuditFile.js';
import { BENCH_BODY as BODY, BENCH_HEADERS as HEADERS } from './benchRequest.js';

const DEFAULT_VARIANTS = {
  // What the functions ran with before terraform/functions.tf set their runtime (V8 sized for the host).
  'v8-defaults': {
    NODE_OPTIONS: '--max-old-space-size=4096 --no-experimental-async-context-frame',
    MALLOC_ARENA_MAX: '16',
    FIRESTORE_ENABLE_TRACING: 'on',
  },
  // The runtime settings of functions/dev/stack.ts, as deployed.
  deployed: {},
};

const { values: flags } = parseArgs({
  options: {
    variants: { type: 'string', default: JSON.stringify(DEFAULT_VARIANTS) },
    order: { type: 'string', default: 'v8-defaults,deployed,v8-defaults,deployed' },
    requests: { type: 'string', default: '1500' },
  },
});
const VARIANTS = JSON.parse(flags.variants) as Record<string, Record<string, string>>;
const REQUESTS = Number(flags.requests);

/** Sends `amount` requests over `connections`, keys from `key`; CPU ms of `pid` per 2xx answer. */
async function measure(
  url: string,
  pid: number,
  key: (i: number) => string,
  amount: number,
  connections: number,
) {
  let i = 0;
  let ok = 0;
  const before = processCpuMs(pid);
  let instance: autocannon.Instance | undefined;
  const finished = new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon(
      {
        url: `${url}/v1/inferences`,
        method: 'POST',
        headers: HEADERS,
        body: BODY,
        connections,
        amount,
        timeout: 30,
        requests: [
          { setupRequest: (req) => ({ ...req, headers: { ...HEADERS, 'idempotency-key': key(i++) } }) },
        ],
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
  });
  instance!.on('response', (_client, status) => {
    if (status >= 200 && status < 300) ok++;
  });
  const result = await finished;
  return { cpuMsPer2xx: (processCpuMs(pid) - before) / ok, ok, p50: result.latency.p50 };
}

async function main(): Promise<void> {
  console.log('CPU and memory per request of the inference API (npm run bench:per-request)');
  console.log(`variants: ${JSON.stringify(VARIANTS)}; ${REQUESTS} requests per measurement`);
  console.log(
    '| variant | new key cpu ms (p50 ms) | replay cpu ms (p50 ms) | new key @64 cpu ms | rss MiB | peak MiB |',
  );
  console.log('| --- | --- | --- | --- | --- | --- |');
  const auditFile = benchAuditFile('bench-per-request-audit.jsonl');
  for (const name of flags.order.split(',')) {
    const variant = VARIANTS[name];
    if (!variant) throw new Error(`no variant ${name}`);
    const stack = await startStack({
      env: {
        ...process.env,
        ...anyFreePorts(),
        ...variant,
        AUDIT_LOG_FILE: auditFile,
      },
      log: () => undefined,
      functionLogDir: path.join(PROJECT_ROOT, '.data', 'logs', 'bench-per-request'),
    });
    try {
      const part = (title: string) => stack.parts.find((p) => p.name === title)!;
      const inference = part('inference API');
      const pid = inference.pid!;
      for (const model of ['model local-a', 'model local-b']) {
        await fetch(`${part(model).address}/admin/behaviour`, {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ latencyMs: 50 }),
        });
      }
      const keys = Array.from({ length: REQUESTS }, () => randomUUID());
      await measure(inference.address, pid, () => randomUUID(), 500, 16); // warm: JIT, connections
      const created = await measure(inference.address, pid, (i) => keys[i % REQUESTS]!, REQUESTS, 16);
      const replayed = await measure(inference.address, pid, (i) => keys[i % REQUESTS]!, REQUESTS, 16);
      const wide = await measure(inference.address, pid, () => randomUUID(), REQUESTS, 64);
      const fmt = (n: number) => n.toFixed(2);
      console.log(
        `| ${name} | ${fmt(created.cpuMsPer2xx)} (${created.p50}) | ${fmt(replayed.cpuMsPer2xx)} (${replayed.p50}) | ` +
          `${fmt(wide.cpuMsPer2xx)} | ${processMemoryMiB(pid, 'VmRSS').toFixed(0)} | ${processMemoryMiB(pid, 'VmHWM').toFixed(0)} |`,
      );
    } finally {
      await stack.stop();
    }
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
