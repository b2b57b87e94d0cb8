import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Request, Response } from '@google-cloud/functions-framework';
import { MethodNotAllowedError, NotFoundError } from '../core/errors.js';
import { sendProblem } from './problem.js';

/**
 * The reviewer console's static files (built by `npm run build` into functions/lib/console/), served by the
 * reviewer function under `/console/`. Pages carry no data, so they need no authentication (in production
 * IAP stands in front of the whole service); the data comes from the API, which does.
 *
 * Every file is read once at start and kept in memory (the console is a few hundred KiB). `index.html` is
 * revalidated on each load so a deploy takes effect at once; everything under `assets/` has a content hash
 * in its name and is cached for a year.
 */

export const CONSOLE_PREFIX = '/console';

/**
 * No inline script or style, nothing from another origin, no framing, no plugins: the page can only load its
 * own files and talk to its own origin's API.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': CONSOLE_CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Permissions-Policy': 'camera=(), microphone=(), geolocation=()',
};

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

type Asset = { body: Buffer; type: string; etag: string; cacheControl: string };

export const isConsolePath = (p: string): boolean =>
  p === CONSOLE_PREFIX || p.startsWith(`${CONSOLE_PREFIX}/`);

/** The console's files, loaded from `dir`; a missing build serves a 404 that says how to build it. */
export function loadConsoleAssets(dir: string): ReadonlyMap<string, Asset> {
  const assets = new Map<string, Asset>();
  if (!existsSync(dir)) return assets;
  const walk = (sub: string) => {
    for (const entry of readdirSync(path.join(dir, sub), { withFileTypes: true })) {
      const rel = sub ? `${sub}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(rel);
      else if (statSync(path.join(dir, rel)).isFile()) {
        const body = readFileSync(path.join(dir, rel));
        assets.set(rel, {
          body,
          type: CONTENT_TYPES[path.extname(rel)] ?? 'application/octet-stream',
          etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
          cacheControl: rel.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
        });
      }
    }
  };
  walk('');
  return assets;
}

/** Answers a request under `/console`. */
export function serveConsole(assets: ReadonlyMap<string, Asset>) {
  return (req: Request, res: Response): void => {
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new MethodNotAllowedError(['GET', 'HEAD']);
      if (req.path === CONSOLE_PREFIX) {
        for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
        res.setHeader('Location', `${CONSOLE_PREFIX}/`);
        res.status(308).end();
        return;
      }
      let rel = req.path.slice(CONSOLE_PREFIX.length + 1);
      if (rel === '') rel = 'index.html';
      const asset = /^[A-Za-z0-9._/-]{1,200}$/.test(rel) && !rel.includes('..') ? assets.get(rel) : undefined;
      if (!asset) {
        throw new NotFoundError(
          assets.size === 0 ? 'the reviewer console is not built (npm run build builds it)' : 'no such file',
        );
      }
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
      res.setHeader('Content-Type', asset.type);
      res.setHeader('Cache-Control', asset.cacheControl);
      res.setHeader('ETag', asset.etag);
      if (req.headers['if-none-match'] === asset.etag) {
        res.status(304).end();
        return;
      }
      res.setHeader('Content-Length', String(asset.body.length));
      res.status(200);
      if (req.method === 'HEAD') res.end();
      else res.end(asset.body);
    } catch (error) {
      sendProblem(res, error);
    }
  };
}
