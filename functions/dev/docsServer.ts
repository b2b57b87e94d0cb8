/**
 * The local stack's API reference: `GET /docs` renders the OpenAPI document that the inference function
 * serves at `/openapi.json`, with Redoc's standalone bundle from node_modules (a development dependency, no
 * CDN: the page works offline). Nothing here is deployed.
 */
import { createReadStream } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pickPort } from './processes.js';
import type { ExtraPart } from './stack.js';

const DEFAULT_DOCS_PORT = 8084;

const REDOC_BUNDLE = path.join(
  path.dirname(createRequire(import.meta.url).resolve('redoc/package.json')),
  'bundles/redoc.standalone.js',
);

const page = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Clinical AI inference gateway: API reference</title>
  <style>body { margin: 0; }</style>
</head>
<body>
  <redoc spec-url="/openapi.json" hide-download-button="false" expand-responses="200,202"></redoc>
  <script src="/docs/redoc.standalone.js"></script>
</body>
</html>
`;

export type DocsServer = { url: string; close(): Promise<void> };

/** Serves `/docs` (the page), its script, and `/openapi.json` fetched from `documentUrl` on each request. */
export async function startDocsServer(options: { port: number; documentUrl: string }): Promise<DocsServer> {
  const server: Server = createServer((req, res) => {
    const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
    } else if (pathname === '/' || pathname === '/docs/') {
      res.writeHead(302, { Location: '/docs' }).end();
    } else if (pathname === '/docs') {
      res
        .writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-cache' })
        .end(page);
    } else if (pathname === '/docs/redoc.standalone.js') {
      res.writeHead(200, {
        'Content-Type': 'text/javascript; charset=utf-8',
        'Cache-Control': 'max-age=3600',
      });
      createReadStream(REDOC_BUNDLE).pipe(res);
    } else if (pathname === '/openapi.json') {
      fetch(options.documentUrl, { signal: AbortSignal.timeout(5_000) })
        .then(async (answer) => {
          res.writeHead(answer.status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache' });
          res.end(await answer.text());
        })
        .catch(() =>
          res.writeHead(502, { 'Content-Type': 'text/plain' }).end('the inference API does not answer'),
        );
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found: see /docs');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://localhost:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The reference as a part of the local stack, on `DOCS_PORT` (default 8084; `0` = any free port). */
export const apiReferencePart: ExtraPart = {
  name: 'API reference',
  async start(env) {
    const raw = env.DOCS_PORT;
    if (raw !== undefined && raw !== '' && !/^\d{1,5}$/.test(raw)) {
      throw new Error(`DOCS_PORT=${raw}: expected a port number from 0 to 65535 (0 = any free port)`);
    }
    const port = await pickPort({
      port: raw ? Number(raw) : undefined,
      defaultPort: DEFAULT_DOCS_PORT,
      label: 'DOCS_PORT',
    });
    const inference = env.INFERENCE_API_URL;
    if (!inference) throw new Error('INFERENCE_API_URL is not set for the API reference');
    const docs = await startDocsServer({ port, documentUrl: `${inference}/openapi.json` });
    return { address: `${docs.url}/docs`, stop: docs.close };
  },
};
