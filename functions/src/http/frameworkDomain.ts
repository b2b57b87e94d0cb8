import type { Domain } from 'node:domain';
import type { HttpFunction } from '@google-cloud/functions-framework';

/**
 * The Functions Framework runs every HTTP function inside a `node:domain` (function_wrappers.js,
 * `wrapHttpFunction`), to turn an exception thrown from a stray callback into a 500 for that request.
 * Inside a domain, every async resource the request creates (each promise, socket write, gRPC call) is
 * bound to it: a destroy hook per resource and a domain enter/exit around every callback. On the inference
 * hot path, which is all promises and gRPC, that was a fifth of the instance's CPU (a `--cpu-prof` of
 * `npm run bench:load`; nodejs/node#50480 measures 20–30 % on a plain Express server).
 *
 * Our handlers need none of it: `serveRoutes` awaits everything a request starts and turns every error into
 * a problem document, and the framework still catches a rejected handler promise. So the handler leaves the
 * domain before it creates anything. An exception from a truly stray callback then reaches the framework's
 * process-level handler, which answers the request in flight with a 500 and restarts the instance, as Cloud
 * Run does for any crash.
 */
export function outsideRequestDomain(handler: HttpFunction): HttpFunction {
  return (req, res) => {
    (process as { domain?: Domain | null }).domain?.exit();
    return handler(req, res);
  };
}
