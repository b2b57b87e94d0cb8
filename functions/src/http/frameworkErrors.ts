import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { HttpFunction, Request, Response } from '@google-cloud/functions-framework';
import bodyParser from 'body-parser';
import { DEFAULT_MAX_BODY_BYTES } from '../config.js';
import {
  NotFoundError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '../core/errors.js';
import { sendProblem } from './problem.js';

/**
 * What the Functions Framework does before our handler runs, and that we take over (and, given an
 * `admission`, the instance's load shedding runs here too, before the body is read: loadShedder.ts):
 *
 * - It reads and parses every request body up to 1 GiB (`requestLimit = '1024mb'` in its server.ts, not
 *   configurable), so a few 32 MiB requests exhaust an instance long before our own size check could answer.
 *   We parse first, with the framework's own parsers (body-parser, same types, same options, same `rawBody`)
 *   but with our limit: a declared `Content-Length` over it is answered 413 before a byte of the body is read,
 *   and a chunked or compressed body stops being buffered at the limit. body-parser skips a request whose
 *   body was already read, so the framework's parsers then let it through untouched.
 * - It hands parse failures (malformed JSON, bad charset) to Express's default final handler, which answers
 *   HTML, with a stack trace outside NODE_ENV=production. Our contract says every error is a problem
 *   document, so we give the framework's Express app a final handler of our own, written by the same
 *   `sendProblem` as every other error answer.
 * - Given the function the instance serves (`serve`: index.ts passes FUNCTION_TARGET's HTTP function), it
 *   routes each request through its Express app: eleven middleware layers and the router, for one function
 *   that takes every path. We hand the request to the function as soon as its body is read, after exactly
 *   what Express's own `app.handle` does first (the app's request and response prototypes, so `req.path`,
 *   `req.query` and `res.status` work as before). That was 9–13 % of the inference API's CPU per request
 *   (docs/benchmarks.md). What the skipped layers did, and why nothing is lost: its body parsers (ours ran
 *   already, and theirs skip a read body); `setLatestRes`, for its crash handler to answer the newest request
 *   with a 500 before the process exits (the process still exits on a crash; the newest request's caller sees
 *   its connection close, as every other caller in flight does); execution ids and their AsyncLocalStorage,
 *   only read by the framework's log injection under `LOG_EXECUTION_ID`, which we do not set (our log lines
 *   carry the request's trace); 404s for `/favicon.ico` and `/robots.txt` (our router answers 404 too); an
 *   `AbortController` on `req` for the function's timeout, which our code never reads (each call has its own
 *   deadline, and Cloud Run ends a request at the function's timeout); and `wrapHttpFunction`: a
 *   `node:domain` per request (frameworkDomain.ts) and a 500 for a rejected handler, which we give here.
 *
 * Upstream: https://github.com/GoogleCloudPlatform/functions-framework-nodejs/issues/686 (open), "Propagate
 * framework errors to user application"; its fix, https://github.com/GoogleCloudPlatform/functions-framework-nodejs/pull/685
 * (open, not released), would pass framework errors to the application's error handler; it does not touch
 * the body limit.
 *
 * All of it hooks Express's `app.handle`, which Express copies into each app it creates: install before the
 * framework builds its server (importing this module from index.ts guarantees it). Installing again replaces
 * the options. This reaches into the framework's own copy of Express, so package.json pins the framework's
 * minor version (`~5.0.5`): before raising it, check that server.ts still builds its app this way (and what
 * its middleware now does) and run the regression tests (test/integration/inferenceApiErrors.test.ts,
 * requestEdges.test.ts, test/unit/frameworkBypass.test.ts). Once #685 ships, the final handler can become an
 * ordinary Express error handler.
 */

type FinalHandler = (err?: unknown) => void;
type Handle = (this: unknown, req: IncomingMessage, res: ServerResponse, callback?: FinalHandler) => unknown;
type Middleware = (req: IncomingMessage, res: ServerResponse, next: FinalHandler) => void;
type Guard = {
  maxBodyBytes: number;
  parsers: Middleware[];
  admission: Admission | null;
  serve: HttpFunction | null;
};
/** What of the framework's Express app the hook uses to serve a request itself (see `serveDirectly`). */
type ExpressApp = { request: object; response: object; enabled(setting: string): boolean };
/** Admission control run before the body is read (`LoadShedder`): an error refuses the request. */
export type Admission = { admit(req: IncomingMessage, res: ServerResponse): Error | null };

const marker = Symbol.for('clinical-gateway.final-handler');

export function installProblemFinalHandler(
  options: { maxBodyBytes?: number; admission?: Admission; serve?: HttpFunction } = {},
): void {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const admission = options.admission ?? null;
  const serve = options.serve ?? null;
  const requireFromFramework = createRequire(import.meta.resolve('@google-cloud/functions-framework'));
  const express = requireFromFramework('express') as {
    application: { handle: Handle & { [marker]?: Guard } };
  };
  const installed = express.application.handle[marker];
  if (installed) {
    Object.assign(installed, { maxBodyBytes, parsers: bodyParsers(maxBodyBytes), admission, serve });
    return;
  }
  const original = express.application.handle;
  const guard: Guard = { maxBodyBytes, parsers: bodyParsers(maxBodyBytes), admission, serve };
  const handle: Handle & { [marker]?: Guard } = function (this: unknown, req, res, callback) {
    // A mounted sub-app is handed requests its parent has already read.
    if (callback) return original.call(this, req, res, callback);
    const done = (err?: unknown) => sendProblem(res, translate(err));
    if (Number(req.headers['content-length']) > guard.maxBodyBytes) {
      // Answer without reading, and close: the client may still be sending the body.
      res.setHeader('Connection', 'close');
      done(new PayloadTooLargeError(`the request body must be at most ${guard.maxBodyBytes} bytes`));
      return undefined;
    }
    // An instance at capacity refuses before reading the body: the connection stays open, and Node reads
    // and drops the body before the connection's next request.
    const refused = guard.admission?.admit(req, res);
    if (refused) {
      done(refused);
      return undefined;
    }
    runInOrder(guard.parsers, req, res, (err) => {
      if (err) done(err);
      else if (guard.serve) serveDirectly(this as ExpressApp, req, res, guard.serve, done);
      else original.call(this, req, res, done);
    });
    return undefined;
  };
  handle[marker] = guard;
  express.application.handle = handle;
}

/**
 * What Express 5's `app.handle` does before it routes (lib/application.js), then the function. A function
 * that throws or rejects gets a 500 problem document, where the framework's wrapper would have sent its own
 * 500.
 */
function serveDirectly(
  app: ExpressApp,
  req: IncomingMessage,
  res: ServerResponse,
  serve: HttpFunction,
  done: FinalHandler,
): void {
  if (app.enabled('x-powered-by')) res.setHeader('X-Powered-By', 'Express');
  Object.assign(req, { res });
  Object.assign(res, { req });
  Object.setPrototypeOf(req, app.request);
  Object.setPrototypeOf(res, app.response);
  const withLocals = res as ServerResponse & { locals?: object };
  withLocals.locals ??= Object.create(null) as object;
  new Promise((resolve) => resolve(serve(req as Request, res as Response))).catch(done);
}

/** The framework's parsers (server.ts), in its order, with our limit instead of its 1 GiB. */
function bodyParsers(limit: number): Middleware[] {
  const verify = (req: IncomingMessage, _res: ServerResponse, buf: Buffer) => {
    (req as IncomingMessage & { rawBody?: Buffer }).rawBody = buf;
  };
  return [
    bodyParser.json({ type: 'application/cloudevents+json', limit, verify }),
    bodyParser.json({ limit, verify }),
    bodyParser.text({ limit, verify }),
    bodyParser.urlencoded({ limit, verify, extended: true }),
    bodyParser.raw({ type: '*/*', limit, verify }),
  ] as Middleware[];
}

function runInOrder(
  middleware: readonly Middleware[],
  req: IncomingMessage,
  res: ServerResponse,
  done: FinalHandler,
): void {
  const step = (i: number) => (err?: unknown) => {
    if (err || i === middleware.length) done(err);
    else middleware[i]!(req, res, step(i + 1));
  };
  step(0)();
}

/** body-parser marks its errors with a `type`; anything else is ours to hide. */
function translate(err: unknown): unknown {
  if (err === undefined) return new NotFoundError('no function serves this path');
  const type = typeof err === 'object' && err !== null ? (err as { type?: unknown }).type : undefined;
  switch (type) {
    case 'entity.parse.failed':
      return new ValidationError('the request body is not valid JSON');
    case 'entity.too.large':
      return new PayloadTooLargeError('the request body is too large');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new UnsupportedMediaTypeError('the request body has an unsupported encoding or charset');
    case 'request.aborted':
    case 'request.size.invalid':
    case 'stream.encoding.set':
      return new ValidationError('the request body could not be read');
    default:
      return err;
  }
}
