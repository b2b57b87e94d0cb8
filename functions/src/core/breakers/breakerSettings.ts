import type { RoutingConfig } from '../routing/routes.js';
import type { BreakerSettings } from './breakerState.js';
import { BUCKETS_PER_WINDOW } from './slidingWindow.js';

/**
 * How each provider's breaker settings follow from the deployment's defaults (the BREAKER_* variables) and
 * the provider's own overrides (its `breaker` entry in ROUTING_CONFIG). Settings are given in the units an
 * operator writes (seconds); the derived rules (bucket size, probe lease) are the breakers' own, so they
 * live here rather than in the configuration parser.
 */

export type BreakerDefaults = {
  windowSeconds: number;
  errorRate: number;
  minFailures: number;
  minWindowSeconds: number;
  slowCallMs: number;
  largeInputChars: number;
  openSeconds: number;
  halfOpenProbes: number;
};

/** Per-provider settings; each one left out takes the deployment's default. */
export type BreakerOverrides = { [K in keyof BreakerDefaults]?: BreakerDefaults[K] | undefined };

/** How long past its slowest call timeout a probe may stay undecided before its permits are written off. */
export const PROBE_LEASE_MARGIN_MS = 5_000;

export function breakerSettingsFor(
  routing: RoutingConfig<{ breaker?: BreakerOverrides | undefined }>,
  defaults: BreakerDefaults,
): Record<string, BreakerSettings> {
  const settings: Record<string, BreakerSettings> = {};
  for (const [name, provider] of Object.entries(routing.providers)) {
    const o = provider.breaker ?? {};
    const windowSeconds = o.windowSeconds ?? defaults.windowSeconds;
    const openMs = (o.openSeconds ?? defaults.openSeconds) * 1000;
    const timeouts = Object.values(routing.tasks).flatMap((t) =>
      t.chain.filter((s) => s.provider === name).map((s) => s.timeoutMs),
    );
    settings[name] = {
      windowMs: windowSeconds * 1000,
      // Whole seconds, so that every instance agrees on the bucket boundaries.
      bucketMs: Math.max(1, Math.round(windowSeconds / BUCKETS_PER_WINDOW)) * 1000,
      errorRate: o.errorRate ?? defaults.errorRate,
      minFailures: o.minFailures ?? defaults.minFailures,
      minWindowMs: (o.minWindowSeconds ?? defaults.minWindowSeconds) * 1000,
      slowCallMs: o.slowCallMs ?? defaults.slowCallMs,
      largeInputChars: o.largeInputChars ?? defaults.largeInputChars,
      openMs,
      halfOpenProbes: o.halfOpenProbes ?? defaults.halfOpenProbes,
      // A probe ends within its call timeout; a half-open still undecided well after that lost its probes.
      probeLeaseMs: Math.max(openMs, Math.max(0, ...timeouts) + PROBE_LEASE_MARGIN_MS),
    };
  }
  return settings;
}
