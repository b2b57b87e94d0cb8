import type { TaskRoute } from '../../config.js';
import { type ProviderAttempt, ProvidersUnavailableError } from '../errors.js';
import {
  type FailureKind,
  isProviderCallError,
  ProviderCallError,
  type ProviderClient,
  type ProviderResult,
} from '../providers/provider.js';
import { withTimeout } from '../retry.js';
import type { ChatPrompt } from '../tasks.js';

/**
 * Walks a task's provider chain: primary first, then fallbacks, skipping providers whose breaker is open.
 * Each call has its own timeout; the router never waits past it. Outcomes go to the breakers.
 */

export type BreakerState = 'closed' | 'open' | 'half_open';

export type Admission =
  | { allowed: true; state: BreakerState; probe: boolean }
  | { allowed: false; state: BreakerState; retryAfterMs: number };

export type CallOutcome =
  | { ok: true; latencyMs: number; probe: boolean }
  | {
      ok: false;
      latencyMs: number;
      probe: boolean;
      failure: FailureKind;
    };

/** What the router needs from the circuit breakers. `admit` must not wait on storage for a closed breaker. */
export interface BreakerBoard {
  admit(provider: string): Promise<Admission>;
  recordOutcome(provider: string, outcome: CallOutcome): void;
}

export type RoutedResult = {
  result: ProviderResult;
  provider: string;
  model: string;
  attempts: ProviderAttempt[];
  fallbackTaken: boolean;
};

export type RouterDeps = {
  clients: ReadonlyMap<string, ProviderClient>;
  breakers: BreakerBoard;
  clock?: () => number;
};

/** How long a caller is asked to wait when every provider is open or failing, if breakers give no hint. */
const DEFAULT_RETRY_AFTER_MS = 5_000;

export class ProviderRouter {
  private readonly now: () => number;

  constructor(private readonly deps: RouterDeps) {
    this.now = deps.clock ?? Date.now;
  }

  async run(route: TaskRoute, prompt: ChatPrompt): Promise<RoutedResult> {
    const attempts: ProviderAttempt[] = [];
    let retryAfterMs = Number.POSITIVE_INFINITY;
    for (const step of route.chain) {
      const client = this.deps.clients.get(step.provider);
      if (!client) throw new Error(`no client configured for provider ${step.provider}`);
      const admission = await this.deps.breakers.admit(step.provider);
      if (!admission.allowed) {
        retryAfterMs = Math.min(retryAfterMs, admission.retryAfterMs);
        attempts.push({
          provider: step.provider,
          model: step.model,
          breakerState: admission.state,
          outcome: 'skipped_open',
          latencyMs: 0,
        });
        continue;
      }
      const started = this.now();
      try {
        const result = await callWithTimeout(client, step.model, prompt, step.timeoutMs);
        const latencyMs = this.now() - started;
        this.deps.breakers.recordOutcome(step.provider, { ok: true, latencyMs, probe: admission.probe });
        attempts.push({
          provider: step.provider,
          model: step.model,
          breakerState: admission.state,
          outcome: 'success',
          latencyMs,
        });
        return {
          result,
          provider: step.provider,
          model: result.model || step.model,
          attempts,
          fallbackTaken: attempts.length > 1,
        };
      } catch (e) {
        const latencyMs = this.now() - started;
        const failure: FailureKind = isProviderCallError(e) ? e.failure : 'server_error';
        this.deps.breakers.recordOutcome(step.provider, {
          ok: false,
          latencyMs,
          probe: admission.probe,
          failure,
        });
        attempts.push({
          provider: step.provider,
          model: step.model,
          breakerState: admission.state,
          outcome: 'failure',
          failureKind: failure,
          latencyMs,
        });
      }
    }
    const wait = Number.isFinite(retryAfterMs) ? retryAfterMs : DEFAULT_RETRY_AFTER_MS;
    throw new ProvidersUnavailableError(Math.max(1, Math.ceil(wait / 1000)), attempts);
  }
}

async function callWithTimeout(
  client: ProviderClient,
  model: string,
  prompt: ChatPrompt,
  timeoutMs: number,
): Promise<ProviderResult> {
  const controller = new AbortController();
  // The deadline holds even if an SDK ignores the abort signal.
  const result = await withTimeout(
    client.complete({ model, prompt, signal: controller.signal }),
    timeoutMs,
    () => {
      controller.abort();
      return new ProviderCallError(client.name, 'timeout');
    },
  );
  try {
    JSON.parse(result.text);
  } catch {
    throw new ProviderCallError(client.name, 'malformed');
  }
  return result;
}
