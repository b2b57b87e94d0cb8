/**
 * The measuring side of `npm run bench:parts` (parts.ts starts it): CPU time of this process per operation,
 * for the Firestore calls and the model-server call an answer is made of. It runs on plain Node (TypeScript
 * types stripped, no tsx): tsx's source maps would make every error's stack far dearer than in a deployed
 * function. Only packages are imported, nothing of the gateway.
 *
 *   FIRESTORE_EMULATOR_HOST=… MODEL_URL=http://…/v1 node functions/dev/bench/partsWorker.ts <count> <concurrency> <rounds>
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { type DocumentData, type DocumentReference, Firestore } from '@google-cloud/firestore';
import { Agent, request } from 'undici';

const [count, concurrency, rounds] = process.argv.slice(2, 5).map(Number) as [number, number, number];
const modelUrl = `${process.env.MODEL_URL}/chat/completions`;
const db = new Firestore({ projectId: 'demo-bench-parts' });
const keys = db.collection('partsKeys');
const taken = keys.doc('taken');
await taken.set({ state: 'completed', response: 'x'.repeat(800) });

const completion = JSON.stringify({
  model: 'local-clinical-1',
  messages: [
    { role: 'system', content: 'task: medication-extraction\nAnswer with JSON.' },
    { role: 'user', content: 'Patient takes metformin 500 mg PO BID and lisinopril 10 mg daily.' },
  ],
  logprobs: true,
  temperature: 0,
  response_format: { type: 'json_object' },
});
const headers = { 'content-type': 'application/json' };
const dispatcher = new Agent();
// BatchWrite reports each write's outcome as a status in its answer, not as an RPC error.
const writer = db.bulkWriter({ throttling: false });
writer.onWriteError(() => false);
function bulkCreate(ref: DocumentReference, data: DocumentData) {
  const done = writer.create(ref, data);
  void writer.flush();
  return done;
}
let flushScheduled = false;
function coalescedCreate(ref: DocumentReference, data: DocumentData) {
  const done = writer.create(ref, data);
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(() => {
      flushScheduled = false;
      void writer.flush();
    });
  }
  return done;
}
const keepAlive = new http.Agent({ keepAlive: true });

const operations: Record<string, () => Promise<unknown>> = {
  'firestore: create, then update with the create as precondition (the floor)': async () => {
    const ref = keys.doc(randomUUID());
    const { writeTime } = await ref.create({ state: 'in_progress', at: new Date() });
    await ref.update({ state: 'completed', response: 'x'.repeat(800) }, { lastUpdateTime: writeTime });
  },
  'firestore: create': () => keys.doc(randomUUID()).create({ state: 'in_progress', at: new Date() }),
  'firestore: create of an existing document (ALREADY_EXISTS)': () =>
    taken.create({ state: 'in_progress' }).catch(() => undefined),
  'firestore: get': () => taken.get(),
  'firestore: create through BatchWrite': () =>
    bulkCreate(keys.doc(randomUUID()), { state: 'in_progress', at: new Date() }),
  'firestore: create of an existing document through BatchWrite': () =>
    bulkCreate(taken, { state: 'in_progress' }).catch(() => undefined),
  'firestore: create through BatchWrite, flushed at setImmediate': () =>
    coalescedCreate(keys.doc(randomUUID()), { state: 'in_progress', at: new Date() }),
  'firestore: failed create, then get (a replay)': async () => {
    await taken.create({ state: 'in_progress' }).catch(() => undefined);
    await taken.get();
  },
  'model call: undici.request': async () => {
    const res = await request(modelUrl, { method: 'POST', headers, body: completion, dispatcher });
    return JSON.parse(await res.body.text());
  },
  'model call: fetch': async () => {
    const res = await fetch(modelUrl, { method: 'POST', headers, body: completion });
    return JSON.parse(await res.text());
  },
  'model call: node:http, keep-alive agent': () =>
    new Promise((resolve, reject) => {
      const req = http.request(modelUrl, { method: 'POST', headers, agent: keepAlive }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => resolve(JSON.parse(text)));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(completion);
    }),
};

/** `n` calls of `op`, `concurrency` at a time. */
async function drive(op: () => Promise<unknown>, n: number): Promise<void> {
  let started = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started++ < n) await op();
    }),
  );
}

const rows: { name: string; round: number; cpuMs: number; wallMs: number }[] = [];
for (let round = 1; round <= rounds; round++) {
  for (const [name, op] of Object.entries(operations)) {
    await drive(op, Math.min(500, count)); // warm: JIT, connections
    const cpu = process.cpuUsage();
    const wall = performance.now();
    await drive(op, count);
    const used = process.cpuUsage(cpu);
    rows.push({
      name,
      round,
      cpuMs: (used.user + used.system) / 1000 / count,
      wallMs: performance.now() - wall,
    });
  }
}
console.log(JSON.stringify(rows));
process.exit(0);
