import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import {
  NotFoundError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '../core/errors.js';
import { problemFor } from './problem.js';

/**
 * The Functions Framework parses request bodies before our handler runs, and hands parse failures (malformed
 * JSON, bad charset) to Express's default final handler, which answers HTML, with a stack trace outside
 * NODE_ENV=production (functions-framework-nodejs issue #686, open). Our contract says every error is a
 * problem document, so we give the framework's Express app a final handler of our own. It only changes what
 * happens to requests the framework could not hand to a function; it must be installed before the framework
 * builds its server, which importing this module from index.ts guarantees.
 */

type FinalHandler = (err?: unknown) => void;
type Handle = (this: unknown, req: IncomingMessage, res: ServerResponse, callback?: FinalHandler) => unknown;

const marker = Symbol.for('clinical-gateway.final-handler');

export function installProblemFinalHandler(): void {
  const requireFromFramework = createRequire(import.meta.resolve('@google-cloud/functions-framework'));
  const express = requireFromFramework('express') as {
    application: { handle: Handle & { [marker]?: true } };
  };
  const original = express.application.handle;
  if (original[marker]) return;
  const handle: Handle & { [marker]?: true } = function (this: unknown, req, res, callback) {
    return original.call(this, req, res, callback ?? ((err?: unknown) => finish(res, err)));
  };
  handle[marker] = true;
  express.application.handle = handle;
}

function finish(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const { problem, headers } = problemFor(translate(err));
  res.statusCode = problem.status;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.setHeader('Content-Type', 'application/problem+json');
  res.setHeader('Cache-Control', 'no-store');
  res.end(JSON.stringify(problem));
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
