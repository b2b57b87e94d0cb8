import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type DocsServer, startDocsServer } from '../../functions/dev/docsServer.js';
import { openApiJson } from '../../functions/src/http/contract/openApiDocument.js';

/** The local stack's `/docs`: the reference page renders offline from the bundled Redoc script. */
describe('API reference page (local stack /docs)', () => {
  let fn: Server;
  let docs: DocsServer;

  before(async () => {
    // Stands in for the inference function's GET /openapi.json.
    fn = createServer((_req, res) =>
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(openApiJson()),
    );
    await new Promise<void>((resolve) => fn.listen(0, '127.0.0.1', resolve));
    const documentUrl = `http://127.0.0.1:${(fn.address() as AddressInfo).port}/openapi.json`;
    docs = await startDocsServer({ port: 0, documentUrl });
  });
  after(async () => {
    await docs.close();
    await new Promise<void>((resolve) => fn.close(() => resolve()));
  });

  it('serves a page whose only script is the bundled renderer (no CDN)', async () => {
    const res = await fetch(`${docs.url}/docs`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    const html = await res.text();
    assert.match(html, /<redoc spec-url="\/openapi.json"/);
    const sources = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    assert.deepEqual(sources, ['/docs/redoc.standalone.js']);
  });

  it('serves Redoc from node_modules', async () => {
    const res = await fetch(`${docs.url}/docs/redoc.standalone.js`);
    assert.equal(res.status, 200);
    const script = await res.text();
    assert.ok(script.length > 100_000, 'the whole bundle');
    assert.match(script, /Redoc/);
  });

  it('serves the document of the inference function', async () => {
    const res = await fetch(`${docs.url}/openapi.json`);
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { openapi: string }).openapi, '3.1.0');
  });

  it('answers 502 when the function does not answer, and 404 elsewhere', async () => {
    const down = await startDocsServer({ port: 0, documentUrl: 'http://127.0.0.1:9/openapi.json' });
    try {
      assert.equal((await fetch(`${down.url}/openapi.json`)).status, 502);
      assert.equal((await fetch(`${down.url}/elsewhere`)).status, 404);
    } finally {
      await down.close();
    }
  });
});
