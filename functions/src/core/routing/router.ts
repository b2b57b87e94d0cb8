import type { BreakerStateKind } from '../breakers/breakerState.js';
import { type Clock, systemClock } from '../clock.js';
import { InputRefusedError, type ProviderAttempt, ProvidersUnavailableError } from '../errors.js';
import {
  type FailureKind,
  type InputRefusal,
  isProviderCallError,
  ProviderCallError,
  type ProviderClient,
  type ProviderResult,
} from '../providers/provider.js';
import { withTimeout } from '../retry.js';
import { type ChatPrompt, checkOutput, isTaskName, type TaskName } from '../tasks.js';
import type { TaskRoute } from './routes.js';

/**
 * Walks a task's provider chain: primary first, then fallbacks, skipping providers whose breaker is open.
 * Each call has its own timeout; the router never waits past it. An answer counts only if it is JSON that
 * fits the task's output schema; anything else is `malformed`, counts against the provider, and the chain
 * moves on. Outcomes go to the breakers.
 *
 * When the chain ends without an answer: if every provider was asked and each refused this very input, the
 * request is at fault (`InputRefusedError`, 422, not retryable); otherwise the providers are
 * (`ProvidersUnavailableError`, 503 with Retry-After).
 */

export type Admission =
  | { allowed: true; state: BreakerStateKind; probe: boolean }
  | { allowed: false; state: BreakerStateKind; retryAfterMs: number };

export type CallOutcome =
  | { ok: true; latencyMs: number; probe: boolean; inputChars: number }
  | {
      ok: false;
      latencyMs: number;
      probe: boolean;
      /** Characters of clinical text sent: slowness of a huge input is not held against the provider. */
      inputChars: number;
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
  clock?: Clock;
};

/** How long a caller is asked to wait when every provider is open or failing, if breakers give no hint. */
const DEFAULT_RETRY_AFTER_MS = 5_000;

export class ProviderRouter {
  private readonly now: () => number;

  constructor(private readonly deps: RouterDeps) {
    this.now = deps.clock ?? systemClock;
  }

  /**
   * `task` decides the output schema an answer must fit; by default it is the one `buildPrompt` names on the
   * first line of the system message.
   */
  async run(
    route: TaskRoute,
    prompt: ChatPrompt,
    task: TaskName | null = taskNamedIn(prompt),
  ): Promise<RoutedResult> {
    const attempts: ProviderAttempt[] = [];
    const refusals: InputRefusal[] = [];
    const inputChars = prompt.user.length;
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
        const result = await callWithTimeout(client, step.model, prompt, step.timeoutMs, task);
        const latencyMs = this.now() - started;
        this.deps.breakers.recordOutcome(step.provider, {
          ok: true,
          latencyMs,
          probe: admission.probe,
          inputChars,
        });
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
        if (isProviderCallError(e) && e.refusal) refusals.push(e.refusal);
        this.deps.breakers.recordOutcome(step.provider, {
          ok: false,
          latencyMs,
          probe: admission.probe,
          inputChars,
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
    if (refusals.length === route.chain.length) throw new InputRefusedError(refusals, attempts);
    const wait = Number.isFinite(retryAfterMs) ? retryAfterMs : DEFAULT_RETRY_AFTER_MS;
    throw new ProvidersUnavailableError(Math.max(1, Math.ceil(wait / 1000)), attempts);
  }
}

async function callWithTimeout(
  client: ProviderClient,
  model: string,
  prompt: ChatPrompt,
  timeoutMs: number,
  task: TaskName | null,
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
  let output: unknown;
  try {
    output = JSON.parse(result.text);
  } catch {
    throw new ProviderCallError(client.name, 'malformed');
  }
  // Valid JSON of the wrong shape is no answer either: a provider that keeps sending it must trip.
  if (task && !checkOutput(task, output).ok) throw new ProviderCallError(client.name, 'malformed');
  return result;
}

/** The task `buildPrompt` names on the first line of the system message (`task: <name>`), if any. */
export function taskNamedIn(prompt: ChatPrompt): TaskName | null {
  const end = prompt.system.indexOf('\n');
  const firstLine = end === -1 ? prompt.system : prompt.system.slice(0, end);
  const name = firstLine.startsWith('task: ') ? firstLine.slice('task: '.length).trim() : '';
  return isTaskName(name) ? name : null;
}
