import domain, { type Domain } from 'node:domain';
import type { HttpFunction } from '@google-cloud/functions-framework';

/**
 * The Functions Framework runs every function inside a `node:domain` (function_wrappers.js,
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

/**
 * Leaving the domain is not enough: constructing the first `Domain` enables the domain module's async hook
 * for the rest of the process, and from then on *every* promise anywhere gets a destroy hook (a native
 * allocation and a weak handle the garbage collector must process), whether or not a domain is active. On a
 * promise-heavy loop that is 9× the CPU; on the inference API it was the largest single cost per request,
 * and the native memory that V8's heap figures do not show.
 *
 * So, in a process that serves an HTTP function (Cloud Functions runs one function per instance and names it
 * in FUNCTION_TARGET), the framework's `domain.create()` returns a stand-in that runs the request without a
 * domain: no Domain is ever constructed, the hook is never enabled. Errors are caught as
 * `outsideRequestDomain` describes. A CloudEvent function keeps the real domain: the framework reads
 * `process.domain` to answer it. Returns a function that restores `domain.create` (for tests).
 */
export function runHttpRequestsWithoutDomains(): () => void {
  const create = domain.create;
  const standIn = {
    on: () => standIn,
    once: () => standIn,
    run: <T>(fn: () => T): T => fn(),
    bind: <F>(fn: F): F => fn,
    intercept: <F>(fn: F): F => fn,
    add: () => undefined,
    remove: () => undefined,
    enter: () => undefined,
    exit: () => undefined,
  };
  domain.create = () => standIn as unknown as Domain;
  return () => {
    domain.create = create;
  };
}
