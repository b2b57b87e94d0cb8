/**
 * The delay from a low-confidence inference's `202` to its review item being listed by the reviewer API
 * (the contract: within 5 s). It runs the whole local stack (`startStack`, as `npm start`): the functions as
 * Functions Framework processes, the Firestore and Pub/Sub emulators, the push subscription to reviewIntake.
 *
 *   npm run bench:review                                  # 100 sequential items, then 100 in bursts of 10
 *   BENCH_ITEMS=300 BENCH_CONCURRENCY=20 npm run bench:review
 *
 * For each item: POST /v1/inferences (the model server is set to confidence 0.5, so every answer is 202),
 * then GET /v1/reviews?state=pending every BENCH_POLL_MS until the item is listed. The delay is measured from
 * the moment the 202 arrived to the first listing that contains the item, so it includes up to one poll
 * interval of waiting. Prints the machine and the settings with the numbers.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeMachine } from '../machine.js';
import { anyFreePorts, startStack } from '../stack.js';
import { benchAuditFile } from './benchAuditFile.js';
import { percentile } from './percentile.js';

const ITEMS = Number(process.env.BENCH_ITEMS ?? 100);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 10);
const POLL_MS = Number(process.env.BENCH_POLL_MS ?? 25);
const CONTRACT_MS = 5_000;
const note =
  'Patient takes metformin 500 mg PO BID and lisinopril 10 mg daily. Started atorvastatin 40 mg qhs.';

function summarise(label: string, samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  const late = s.filter((v) => v > CONTRACT_MS).length;
  console.log(
    `${label.padEnd(26)} n=${s.length}  p50=${percentile(s, 50).toFixed(0)} ms  p95=${percentile(s, 95).toFixed(0)} ms  ` +
      `p99=${percentile(s, 99).toFixed(0)} ms  mean=${mean.toFixed(0)} ms  max=${(s.at(-1) ?? 0).toFixed(0)} ms  ` +
      `over 5 s: ${late}`,
  );
}

async function main() {
  const started = performance.now();
  // Any free ports unless set, so the benchmark can run next to `npm start`.
  const env: NodeJS.ProcessEnv = { ...anyFreePorts(), ...process.env, METADATA_SERVER_DETECTION: 'none' };
  env.AUDIT_LOG_FILE ??= benchAuditFile('bench-review-audit.jsonl');
  env.AUDIT_TO_STDOUT ??= 'false';
  const stack = await startStack({
    env,
    // The functions' own lines (one per review request taken in) would only slow the terminal.
    log: (line) => {
      if (line.startsWith('[stack]')) console.log(line);
    },
  });
  const address = (name: string) => stack.parts.find((p) => p.name === name)!.address;
  const inferenceApi = address('inference API');
  const reviewerApi = address('reviewer API');
  await fetch(`${address('model local-a')}/admin/behaviour`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ confidence: 0.5 }),
  });

  const submit = async (tenant: string): Promise<{ id: string; answeredAt: number }> => {
    const res = await fetch(`${inferenceApi}/v1/inferences`, {
      method: 'POST',
      headers: {
        authorization: `Bearer dev:${tenant}:clinician:bench`,
        'content-type': 'application/json',
        'idempotency-key': randomUUID(),
      },
      body: JSON.stringify({ task: 'medication-extraction', input: { text: note } }),
    });
    const body = (await res.json()) as { id: string };
    const answeredAt = performance.now();
    if (res.status !== 202) throw new Error(`expected 202, got ${res.status}`);
    return { id: body.id, answeredAt };
  };

  /** Polls the tenant's queue until every id in `waiting` is listed; records when each first appeared. */
  const watch = async (
    tenant: string,
    waiting: Map<string, number>,
    delays: number[],
    until: () => boolean,
  ) => {
    while (!until() || waiting.size > 0) {
      const res = await fetch(`${reviewerApi}/v1/reviews?state=pending&limit=200`, {
        headers: { authorization: `Bearer dev:${tenant}:reviewer:bench` },
      });
      const seenAt = performance.now();
      const { items } = (await res.json()) as { items: { inferenceId: string }[] };
      for (const item of items) {
        const answeredAt = waiting.get(item.inferenceId);
        if (answeredAt === undefined) continue;
        delays.push(seenAt - answeredAt);
        waiting.delete(item.inferenceId);
      }
      await sleep(POLL_MS);
    }
  };

  try {
    // Warm-up: first calls pay for JIT and connection setup in every process.
    const warm = `warm${randomUUID().slice(0, 6)}`;
    const warmDelays: number[] = [];
    for (let i = 0; i < 5; i++) {
      const { id, answeredAt } = await submit(warm);
      await watch(warm, new Map([[id, answeredAt]]), warmDelays, () => true);
    }

    const sequential: number[] = [];
    const seqTenant = `seq${randomUUID().slice(0, 6)}`;
    for (let i = 0; i < ITEMS; i++) {
      const { id, answeredAt } = await submit(seqTenant);
      await watch(seqTenant, new Map([[id, answeredAt]]), sequential, () => true);
    }

    const burst: number[] = [];
    const burstTenant = `burst${randomUUID().slice(0, 6)}`;
    const waiting = new Map<string, number>();
    let submitted = 0;
    const submitter = (async () => {
      while (submitted < ITEMS) {
        const batch = Math.min(CONCURRENCY, ITEMS - submitted);
        submitted += batch;
        const answers = await Promise.all(Array.from({ length: batch }, () => submit(burstTenant)));
        for (const { id, answeredAt } of answers) waiting.set(id, answeredAt);
      }
    })();
    let done = false;
    void submitter.then(() => {
      done = true;
    });
    await Promise.all([submitter, watch(burstTenant, waiting, burst, () => done)]);

    console.log('');
    console.log('Delay from the 202 to the review item being listed (GET /v1/reviews), local stack:');
    summarise('sequential, one at a time', sequential);
    summarise(`bursts of ${CONCURRENCY}`, burst);
    console.log('');
    console.log(`machine: ${describeMachine({ os: true, loadAverage: true })}`);
    console.log(
      `settings: ${ITEMS} items per run, poll every ${POLL_MS} ms, burst concurrency ${CONCURRENCY}; ` +
        'functions as Functions Framework processes, Pub/Sub emulator push subscription to reviewIntake, ' +
        'Firestore emulator, TASKS_MODE=local, model local-a at confidence 0.5 with no added latency; ' +
        `total run ${((performance.now() - started) / 1000).toFixed(0)} s`,
    );
  } finally {
    await stack.stop();
  }
}

await main();
