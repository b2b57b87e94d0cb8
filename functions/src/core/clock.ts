/**
 * The one shape of time in the gateway: milliseconds since the epoch, read when called. Production uses
 * `Date.now`; tests inject a clock they move by hand, so leases, deadlines, breaker windows and cached health
 * checks are tested without waiting.
 */
export type Clock = () => number;

export const systemClock: Clock = Date.now;

/** For code that stamps records with `Date`s: reads `clock` (the system clock by default) as a `Date`. */
export const dateClock =
  (clock: Clock = systemClock): (() => Date) =>
  () =>
    new Date(clock());
