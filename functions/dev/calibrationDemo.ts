import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { seededRandom } from './seededRandom.js';

/**
 * Feeds a running local stack (`npm start`, started with a review sample rate above 0) the traffic that
 * `audit:calibrate` learns from, through the public APIs only:
 *
 *   1. N inferences of medication-extraction, the model server's confidence pinned before each one
 *      (`PUT /admin/behaviour`), spread evenly over (0.05, 0.99);
 *   2. a scripted reviewer who works the queue (`GET /v1/reviews`, claim, decision) and finds an output
 *      wrong with probability 0.45·(1 − confidence)², drawn from a seeded generator: edits or rejects it.
 *
 *   REVIEW_SAMPLE_RATE=0.5 npm start                                   # in one terminal
 *   npx tsx functions/dev/calibrationDemo.ts --outputs 800 --seed 7    # in another
 *   npm run audit:calibrate -- --task medication-extraction --alpha 0.05 --chart docs/images/calibration.svg
 *
 * Addresses: INFERENCE_URL, REVIEWER_URL, LOCAL_A_URL (default: the stack's default ports).
 */

const { values } = parseArgs({
  options: {
    outputs: { type: 'string', default: '800' },
    seed: { type: 'string', default: '7' },
    tenant: { type: 'string', default: `calib${Date.now().toString(36)}` },
  },
});
const inferenceUrl = process.env.INFERENCE_URL ?? 'http://localhost:8080';
const reviewerUrl = process.env.REVIEWER_URL ?? 'http://localhost:8081';
const modelUrl = process.env.LOCAL_A_URL?.replace(/\/v1$/, '') ?? 'http://localhost:8090';
const outputs = Number(values.outputs);
const tenant = values.tenant;
const errorRate = (c: number) => 0.45 * (1 - c) ** 2;

const next = seededRandom(Number(values.seed));

async function call(url: string, init: RequestInit & { auth?: string } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (init.auth) headers.set('Authorization', init.auth);
  if (init.body) headers.set('Content-Type', 'application/json');
  return fetch(url, { ...init, headers });
}

const note =
  'Patient takes metformin 500 mg PO BID and lisinopril 10 mg daily. Started atorvastatin 40 mg qhs.';
const confidenceOf = new Map<string, number>();
let withheld = 0;
let sampled = 0;
for (let i = 0; i < outputs; i++) {
  const confidence = Math.round((0.05 + (0.94 * ((i * 389) % outputs)) / outputs) * 1000) / 1000;
  const behaviour = await call(`${modelUrl}/admin/behaviour`, {
    method: 'PUT',
    body: JSON.stringify({ confidence }),
  });
  if (behaviour.status !== 204) throw new Error(`model server: ${behaviour.status}`);
  const res = await call(`${inferenceUrl}/v1/inferences`, {
    method: 'POST',
    auth: `Bearer dev:${tenant}:clinician:alice`,
    headers: { 'Idempotency-Key': randomUUID() },
    body: JSON.stringify({ task: 'medication-extraction', input: { text: note } }),
  });
  const body = (await res.json()) as { id: string; review: { state: string } | null };
  if (res.status === 202) withheld++;
  else if (res.status === 200 && body.review?.state === 'pending') sampled++;
  else if (res.status !== 200) throw new Error(`inference ${i}: ${res.status}`);
  confidenceOf.set(body.id, confidence);
}
await call(`${modelUrl}/admin/behaviour`, { method: 'PUT', body: JSON.stringify({ confidence: null }) });
console.log(
  `${outputs} inferences for tenant ${tenant}: ${withheld} withheld for review, ${sampled} sampled`,
);

const reviewer = `Bearer dev:${tenant}:reviewer:rita`;
let decided = 0;
let wrong = 0;
let idle = 0;
while (decided < withheld + sampled && idle < 30) {
  const list = await call(`${reviewerUrl}/v1/reviews?state=pending&limit=50`, { auth: reviewer });
  const items = ((await list.json()) as { items: { id: string; inferenceId: string; output: unknown }[] })
    .items;
  if (items.length === 0) {
    // Review requests reach the queue through Pub/Sub within seconds.
    idle++;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    continue;
  }
  idle = 0;
  for (const item of items) {
    const claim = await call(`${reviewerUrl}/v1/reviews/${item.id}/claim`, {
      method: 'POST',
      auth: reviewer,
    });
    if (claim.status !== 200) continue;
    const isWrong = next() < errorRate(confidenceOf.get(item.inferenceId) ?? 1);
    const decision = !isWrong
      ? { action: 'approve' }
      : next() < 0.5
        ? { action: 'reject', reasonCode: 'incorrect' }
        : { action: 'edit', output: item.output, reasonCode: 'incomplete' };
    const res = await call(`${reviewerUrl}/v1/reviews/${item.id}/decision`, {
      method: 'POST',
      auth: reviewer,
      body: JSON.stringify(decision),
    });
    if (res.status !== 200) throw new Error(`decision on ${item.id}: ${res.status}`);
    decided++;
    if (isWrong) wrong++;
  }
}
console.log(`${decided} reviews decided, ${wrong} edited or rejected`);
