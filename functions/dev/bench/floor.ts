/**
 * The floor prototype for `npm run bench:load`: the least a durable, idempotent answer physically needs on
 * the same Firestore emulator — one conditional create() of the claim, the model's wait, one write of the
 * completion — behind a bare node:http server. No auth, validation, routing or audit: what the gateway adds
 * on top of this is its overhead, so the benchmark reports gateway/floor ratios.
 *
 *   FIRESTORE_EMULATOR_HOST=… tsx functions/dev/bench/floor.ts <port> <modelLatencyMs>
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { Firestore } from '@google-cloud/firestore';

const port = Number(process.argv[2] ?? 0);
const modelLatencyMs = Number(process.argv[3] ?? 50);
const db = new Firestore({ projectId: process.env.GOOGLE_CLOUD_PROJECT ?? 'demo-clinical-gateway' });
const keys = db.collection('floorKeys');

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', async () => {
    const ref = keys.doc(String(req.headers['idempotency-key']));
    try {
      await ref.create({ state: 'in_progress', at: new Date(), body: Buffer.concat(chunks).length });
      await sleep(modelLatencyMs);
      const body = JSON.stringify({ id: `inf_${randomUUID()}`, status: 'completed' });
      await ref.update({ state: 'completed', response: body });
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    } catch {
      res.writeHead(503).end();
    }
  });
});
server.listen(port, '127.0.0.1', () => {
  const address = server.address();
  console.log(`listening ${typeof address === 'object' && address ? address.port : port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
