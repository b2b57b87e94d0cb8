import type { Domain } from 'node:domain';
import type { HttpFunction } from '@google-cloud/functions-framework';

/**
 * The Functions Framework runs every request it routes inside a `node:domain` (function_wrappers.js,
 * `wrapHttpFunction`), to turn an exception thrown from a stray callback into a 500 for that request.
 * Inside a domain, every async resource the request creates (each promise, socket write, gRPC call) is
 * bound to it: a destroy hook per resource and a domain enter/exit around every callback. On the inference
 * hot path, which is all promises and gRPC, that was a fifth of the instance's CPU (a `--cpu-prof` of
 * `npm run bench:load`; nodejs/node#50480 measures 20–30 % on a plain Express server). Worse, constructing
 * the first `Domain` enables the domain module's async hook for the rest of the process, and from then on
 * every promise anywhere gets a destroy hook.
 *
 * A deployed HTTP function never gets there: the framework hook hands it its requests before the framework
 * routes them (frameworkErrors.ts, `serve`), so no domain is ever constructed. A request that the framework
 * does route (the in-process test servers of `getTestServer`) leaves the domain before it creates anything:
 * `serveRoutes` awaits everything a request starts and turns every error into a problem document, and the
 * framework still catches a rejected handler promise.
 */
export function outsideRequestDomain(handler: HttpFunction): HttpFunction {
  return (req, res) => {
    (process as { domain?: Domain | null }).domain?.exit();
    return handler(req, res);
  };
}
