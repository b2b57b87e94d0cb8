import type { HttpFunction } from '@google-cloud/functions-framework';
import { OverloadedError } from '../core/errors.js';
import { sendProblem } from './problem.js';

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
 * Health checks are always answered.
 */
export type LoadShedderOptions = {
  maxConcurrent: number;
  maxEventLoopLagMs: number;
  /** How often the event loop's lag is sampled. */
  sampleMs?: number;
  retryAfterSeconds?: number;
};

export type LoadShedder = {
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

  return {
    wrap: (handler) => async (req, res) => {
      if (
        req.path !== '/healthz' &&
        (inFlight >= options.maxConcurrent || lagMs > options.maxEventLoopLagMs)
      ) {
        // The connection stays open: the framework has read the body by now (its parsers run before any
        // function), and a closed connection would cost the caller, and this instance, a new one per retry.
        sendProblem(res, new OverloadedError(retryAfter));
        return;
      }
      inFlight++;
      try {
        await handler(req, res);
      } finally {
        inFlight--;
      }
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
