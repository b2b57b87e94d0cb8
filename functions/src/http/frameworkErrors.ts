import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
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
 * Two things the Functions Framework does before our handler runs, and that we take over (and, given an
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
 *
 * Upstream: https://github.com/GoogleCloudPlatform/functions-framework-nodejs/issues/686 (open), "Propagate
 * framework errors to user application"; its fix, https://github.com/GoogleCloudPlatform/functions-framework-nodejs/pull/685
 * (open, not released), would pass framework errors to the application's error handler; it does not touch
 * the body limit.
 *
 * Both hook Express's `app.handle`, which Express copies into each app it creates: install before the framework
 * builds its server (importing this module from index.ts guarantees it). Installing again changes the limit.
 * This reaches into the framework's own copy of Express, so package.json pins the framework's minor version
 * (`~5.0.5`): before raising it, check that server.ts still builds its app this way and run the regression
 * tests (test/integration/inferenceApiErrors.test.ts, requestEdges.test.ts). Once #685 ships, the final
 * handler can become an ordinary Express error handler and only the body limit needs this hook.
 */

type FinalHandler = (err?: unknown) => void;
type Handle = (this: unknown, req: IncomingMessage, res: ServerResponse, callback?: FinalHandler) => unknown;
type Middleware = (req: IncomingMessage, res: ServerResponse, next: FinalHandler) => void;
type Guard = { maxBodyBytes: number; parsers: Middleware[]; admission: Admission | null };
/** Admission control run before the body is read (`LoadShedder`): an error refuses the request. */
export type Admission = { admit(req: IncomingMessage, res: ServerResponse): Error | null };

const marker = Symbol.for('clinical-gateway.final-handler');

export function installProblemFinalHandler(
  options: { maxBodyBytes?: number; admission?: Admission } = {},
): void {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const admission = options.admission ?? null;
  const requireFromFramework = createRequire(import.meta.resolve('@google-cloud/functions-framework'));
  const express = requireFromFramework('express') as {
    application: { handle: Handle & { [marker]?: Guard } };
  };
  const installed = express.application.handle[marker];
  if (installed) {
    Object.assign(installed, { maxBodyBytes, parsers: bodyParsers(maxBodyBytes), admission });
    return;
  }
  const original = express.application.handle;
  const guard: Guard = { maxBodyBytes, parsers: bodyParsers(maxBodyBytes), admission };
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
      else original.call(this, req, res, done);
    });
    return undefined;
  };
  handle[marker] = guard;
  express.application.handle = handle;
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
