import type { IncomingMessage, ServerResponse } from 'node:http';
import { finished } from 'node:stream';
import type { HttpFunction } from '@google-cloud/functions-framework';
import { OverloadedError } from '../core/errors.js';
import { sendProblem } from './problem.js';
import { HEALTH_PATH } from './request.js';

/**
 * Admission control for one instance. Cloud Run stops sending an instance more than its configured
 * concurrency, but nothing stops a burst from queueing inside it (the local stack has no cap at all): past
 * its capacity an instance only gets slower for everyone, its memory grows with the queue, and callers time
 * out after the work was half done. So it says so at once instead, with a 503, `Retry-After` and a problem
 * document, before authentication, validation or any I/O of ours, when either
 *
 *   - the requests already in flight reach the configured concurrency (MAX_CONCURRENT_REQUESTS, the number
 *     Terraform gives the function), or
 *   - the event loop lags more than MAX lag behind (CPU saturated: new work would only queue).
 *
 * A request is in flight from its admission until its response is closed (sent, or the connection gone).
 * Where the function runs under the Functions Framework, admission happens in the framework hook, before the
 * request's body is read (`installProblemFinalHandler({ admission })`): a refusal then costs no body parsing,
 * no Express routing, and a body still being uploaded holds its slot, as it does in Cloud Run's own count.
 * `wrap` admits what the hook did not see (a handler served some other way). Health checks are always
 * answered.
 */
export type LoadShedderOptions = {
  maxConcurrent: number;
  maxEventLoopLagMs: number;
  /** How often the event loop's lag is sampled. */
  sampleMs?: number;
  retryAfterSeconds?: number;
};

export type LoadShedder = {
  /**
   * Admits `req`, counting it in flight until `res` closes, or says why not. A request already admitted is
   * admitted again without a second count.
   */
  admit(req: IncomingMessage, res: ServerResponse): OverloadedError | null;
  /** `handler`, serving only the requests admitted (here, or earlier by the framework hook). */
  wrap(handler: HttpFunction): HttpFunction;
  /** Requests being served now, and the event loop's recent lag (for tests and the benchmark). */
  readonly inFlight: number;
  readonly lagMs: number;
  close(): void;
};

export function createLoadShedder(options: LoadShedderOptions): LoadShedder {
  const sampleMs = options.sampleMs ?? 50;
  const retryAfter = options.retryAfterSeconds ?? 1;
  let inFlight = 0;
  let lagMs = 0;
  let expected = performance.now() + sampleMs;
  // A decaying peak rather than the last sample: one late tick says the loop was blocked, and the requests
  // that queued behind the block are still being worked off for a while after it.
  const timer = setInterval(() => {
    const now = performance.now();
    lagMs = Math.max(now - expected, lagMs / 2, 0);
    expected = now + sampleMs;
  }, sampleMs);
  timer.unref();

  const counted = Symbol('admitted'); // marks the requests this shedder counted
  const admit = (req: IncomingMessage, res: ServerResponse): OverloadedError | null => {
    const admitted = req as IncomingMessage & { [counted]?: true };
    if (admitted[counted]) return null;
    if (!isHealthCheck(req) && (inFlight >= options.maxConcurrent || lagMs > options.maxEventLoopLagMs)) {
      return new OverloadedError(retryAfter);
    }
    admitted[counted] = true;
    inFlight++;
    // Also when the response had already closed (the caller gone while its body was read): never a lost slot.
    finished(res, () => inFlight--);
    return null;
  };

  return {
    admit,
    wrap: (handler) => (req, res) => {
      const refused = admit(req, res);
      // The connection stays open: a closed one would cost the caller, and this instance, a new one per
      // retry. A body not read yet is read and dropped by Node before the connection's next request.
      if (refused) return sendProblem(res, refused);
      return handler(req, res);
    },
    get inFlight() {
      return inFlight;
    },
    get lagMs() {
      return lagMs;
    },
    close: () => clearInterval(timer),
  };
}

const isHealthCheck = (req: IncomingMessage): boolean => {
  const url = req.url ?? '';
  const end = url.indexOf('?');
  return (end === -1 ? url : url.slice(0, end)) === HEALTH_PATH;
};
