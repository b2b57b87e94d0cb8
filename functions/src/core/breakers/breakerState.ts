/**
 * A provider's circuit breaker as every gateway instance shares it (one document per provider).
 *
 *        error rate ≥ threshold,                     open interval elapsed
 *        enough failures, window old enough
 *   closed ─────────────────────────▶ open ─────────────────────────────────▶ half_open
 *     ▲                                ▲                (first caller)            │
 *     │                                └───────── any probe fails ────────────────┤
 *     └───────────────────────────── every probe succeeds ────────────────────────┘
 *
 * `generation` grows by one on every transition. Window counts are kept per generation, so a breaker that
 * closes starts from an empty window, and a write based on a stale view (an older generation) is refused.
 */

/** The states' names: what the router, audit events, stored records and the operators' API say. */
export const breakerStateKinds = ['closed', 'open', 'half_open'] as const;
export type BreakerStateKind = (typeof breakerStateKinds)[number];

export type BreakerState =
  | { kind: 'closed' }
  | { kind: 'open'; openedAt: number }
  | {
      kind: 'half_open';
      /** When the breaker last opened; kept so operators see how long the provider has been out. */
      openedAt: number;
      halfOpenedAt: number;
      /** Probe calls still to hand out, across all instances. */
      permitsLeft: number;
      /** Probe calls that succeeded so far; the breaker closes when this reaches the probe count. */
      successes: number;
    };

/** A window's counts. `errorRate` is failures / requests (0 for an empty window). */
export type WindowFigures = { requests: number; failures: number; errorRate: number };

export type BreakerRecord = {
  state: BreakerState;
  generation: number;
  /** The figures that caused the last transition (what an open breaker shows operators and audit). */
  figures: WindowFigures;
  /** Epoch milliseconds of the last transition; 0 for a breaker that never changed. */
  changedAt: number;
};

/** Per-provider breaker settings (breakerSettings.ts derives them from the environment and ROUTING_CONFIG). */
export type BreakerSettings = {
  windowMs: number;
  /** Length of one time bucket of the sliding window (a whole number of seconds). */
  bucketMs: number;
  /** The breaker opens when the window's error rate reaches this (at or above). */
  errorRate: number;
  /**
   * No opening on fewer failures than this in the window: a stray failure or two at low traffic does not trip
   * it, while a provider failing every call trips after this many calls whatever the traffic.
   */
  minFailures: number;
  /**
   * No opening on a window younger than this (counted from the breaker's last transition, or from when this
   * instance started): right after a close the window is empty, and a few early failures are too small a
   * sample to judge a rate on. At high traffic this is what stops a healthy provider from flapping.
   */
  minWindowMs: number;
  /** A successful call slower than this counts as a failure. */
  slowCallMs: number;
  /**
   * Calls whose input is longer than this (characters of clinical text) are not judged on their time: a huge
   * note that is slow, or times out, says more about the note than about the provider, and must not open the
   * breaker for every tenant. Their other failures still count.
   */
  largeInputChars: number;
  /** How long an open breaker stays open before it lets probes through. */
  openMs: number;
  /** Probe calls admitted while half-open, across all instances; all must succeed to close. */
  halfOpenProbes: number;
  /**
   * A half-open breaker that has not decided within this long is treated as open again: the instances that
   * held its probe permits may have died, so its permit count is not trusted.
   */
  probeLeaseMs: number;
};

export const emptyFigures: WindowFigures = Object.freeze({ requests: 0, failures: 0, errorRate: 0 });

export const initialRecord: BreakerRecord = Object.freeze({
  state: Object.freeze({ kind: 'closed' as const }),
  generation: 0,
  figures: emptyFigures,
  changedAt: 0,
});

/**
 * The state to act on at `now`. A half-open breaker past its probe lease is read as open (cockatiel's habit
 * of saving half-open as open): a stale half-open is never trusted, and the next caller re-opens the probing
 * with fresh permits.
 */
export function effectiveState(record: BreakerRecord, now: number, settings: BreakerSettings): BreakerState {
  const { state } = record;
  if (state.kind === 'half_open' && now >= state.halfOpenedAt + settings.probeLeaseMs) {
    return { kind: 'open', openedAt: state.openedAt };
  }
  return state;
}

/** When an open breaker will let probes through. */
export const halfOpensAt = (state: { openedAt: number }, settings: BreakerSettings): number =>
  state.openedAt + settings.openMs;
