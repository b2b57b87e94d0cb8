import { type Clock, systemClock } from '../core/clock.js';

/**
 * What `GET /healthz` answers: whether the function reaches its dependencies. Load balancers and uptime checks
 * call it often, so an answer is reused for `cacheMs`, and checks that arrive while one is running wait for it
 * rather than start their own: a burst of probes costs one call to the dependency.
 */
export class HealthProbe {
  private last = { at: Number.NEGATIVE_INFINITY, ok: false };
  private running: Promise<boolean> | null = null;
  private readonly now: Clock;

  constructor(
    /** Resolves when the dependencies answer; rejects (or never settles past its own deadline) when not. */
    private readonly check: () => Promise<unknown>,
    private readonly options: { cacheMs: number; clock?: Clock },
  ) {
    this.now = options.clock ?? systemClock;
  }

  healthy(): Promise<boolean> {
    if (this.now() - this.last.at < this.options.cacheMs) return Promise.resolve(this.last.ok);
    this.running ??= this.run().then(
      () => this.settle(true),
      () => this.settle(false),
    );
    return this.running;
  }

  /** A check that throws before it returns a promise is a failed check, not a failed probe. */
  private run(): Promise<unknown> {
    try {
      return this.check();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private settle(ok: boolean): boolean {
    this.last = { at: this.now(), ok };
    this.running = null;
    return ok;
  }
}
