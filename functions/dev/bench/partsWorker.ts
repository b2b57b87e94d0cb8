/**
 * The measuring side of `npm run bench:parts` (parts.ts starts it): CPU time of this process per operation,
 * for the Firestore calls and the model-server call an answer is made of. It runs on plain Node (TypeScript
 * types stripped, no tsx): tsx's source maps would make every error's stack far dearer than in a deployed
 * function. Only packages are imported, and the gateway's coalescer as `npm run build` compiled it.
 *
 *   FIRESTORE_EMULATOR_HOST=… MODEL_URL=http://…/v1 node functions/dev/bench/partsWorker.ts <count> <concurrency> <rounds>
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { type DocumentData, type DocumentReference, Firestore } from '@google-cloud/firestore';
import { Agent, request } from 'undici';

const [count, concurrency, rounds] = process.argv.slice(2, 5).map(Number) as [number, number, number];
const modelUrl = `${process.env.MODEL_URL}/chat/completions`;
const db = new Firestore({ projectId: 'demo-bench-parts' });
const keys = db.collection('partsKeys');
const taken = keys.doc('taken');
await taken.set({ state: 'completed', response: 'x'.repeat(800) });
// Existing keys for the coalesced rows: concurrent creates of one document never share a call.
const existing = Array.from({ length: 256 }, (_, i) => keys.doc(`taken-${i}`));
await Promise.all(existing.map((ref) => ref.set({ state: 'completed', response: 'x'.repeat(800) })));
let next = 0;
const anExisting = () => existing[next++ % existing.length]!;

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
// BatchWrite reports each write's outcome as a status in its answer, not as an RPC error. `createAlone` sends
// each create in a call of its own; `shared` is the gateway's own coalescer (adapters/firestore/coalescedCalls.ts,
// compiled by `npm run build`): the creates and the reads of one turn of the event loop in one call each.
function createAlone(ref: DocumentReference, data: DocumentData) {
  const writer = db.bulkWriter({ throttling: false });
  writer.onWriteError(() => false);
  const done = writer.create(ref, data);
  void writer.close();
  return done;
}
const { CoalescedCalls } = (await import(
  pathToFileURL(path.resolve(import.meta.dirname, '../../lib/adapters/firestore/coalescedCalls.js')).href
)) as typeof import('../../src/adapters/firestore/coalescedCalls.js');
const shared = new CoalescedCalls(db);
const keepAlive = new http.Agent({ keepAlive: true });
// A completion's documents: the ledger record with the stored answer, the inference, the audit event's
// pending copy. (The ledger's write is an update conditioned on the claim's write time in the gateway; the
// client's CPU for it is the same as for a create.)
const answer = 'x'.repeat(1_500);
const completionWrites = () =>
  ['ledger', 'inference', 'pending'].map((kind) => ({
    kind: 'create' as const,
    ref: db.collection(`parts-${kind}`).doc(randomUUID()),
    data: { state: 'completed', text: answer, at: new Date() },
  }));

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
  'firestore: create through BatchWrite, one per call': () =>
    createAlone(keys.doc(randomUUID()), { state: 'in_progress', at: new Date() }),
  'firestore: create of an existing document through BatchWrite, one per call': () =>
    createAlone(taken, { state: 'in_progress' }).catch(() => undefined),
  'firestore: create through BatchWrite, the creates of a turn together (a claim)': () =>
    shared.create(keys.doc(randomUUID()), { state: 'in_progress', at: new Date() }),
  'firestore: get, the reads of a turn together': () => shared.get(anExisting()),
  'firestore: failed create, then get (a replay)': async () => {
    await taken.create({ state: 'in_progress' }).catch(() => undefined);
    await taken.get();
  },
  'firestore: a replay now: create of an existing document, then get, each with the others of its turn':
    async () => {
      const ref = anExisting();
      await shared.create(ref, { state: 'in_progress' }).catch(() => undefined);
      await shared.get(ref);
    },
  'firestore: commit of a completion (three documents, 4 KB), one per call': () => {
    const batch = db.batch();
    for (const write of completionWrites()) batch.create(write.ref, write.data);
    return batch.commit();
  },
  'firestore: commit of a completion, the commits of a turn together (a completion now)': () =>
    shared.commit(completionWrites()),
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
