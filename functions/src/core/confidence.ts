import type { ProviderResult } from './providers/provider.js';
import { checkOutput, type TaskName } from './tasks.js';

/**
 * Turns a provider result into a confidence in [0, 1].
 *
 * - With token logprobs: the geometric mean of the token probabilities, exp(mean logprob). An output whose
 *   every token has logprob ln(c) scores exactly c.
 * - Without logprobs: we cannot tell how sure the model was, so the score is `NO_LOGPROBS_CONFIDENCE` (0.5),
 *   below the default threshold of 0.8: a reviewer decides, unless an operator deliberately sets that task's
 *   threshold at or below 0.5.
 * - An output that is not JSON or fails the task's schema scores 0 and is never auto-completed.
 */
export const SCORER_VERSION = 'geomean-logprob-v1';
export const NO_LOGPROBS_CONFIDENCE = 0.5;

export type Score =
  | { basis: 'logprobs' | 'no_logprobs'; confidence: number; output: unknown }
  | { basis: 'invalid_output'; confidence: 0; output: unknown; problems: string[] };

export function scoreResult(task: TaskName, result: ProviderResult): Score {
  let parsed: unknown;
  try {
    parsed = JSON.parse(result.text);
  } catch {
    return { basis: 'invalid_output', confidence: 0, output: null, problems: ['output is not JSON'] };
  }
  const check = checkOutput(task, parsed);
  if (!check.ok) return { basis: 'invalid_output', confidence: 0, output: parsed, problems: check.problems };
  const logprobs = result.tokenLogprobs?.filter((lp) => Number.isFinite(lp) || lp === -Infinity);
  if (!logprobs || logprobs.length === 0) {
    return { basis: 'no_logprobs', confidence: NO_LOGPROBS_CONFIDENCE, output: check.output };
  }
  const mean = logprobs.reduce((sum, lp) => sum + Math.min(0, lp), 0) / logprobs.length;
  return { basis: 'logprobs', confidence: roundScore(Math.exp(mean)), output: check.output };
}

/** Six decimals: enough to compare with a threshold, stable across platforms in stored documents. */
const roundScore = (c: number): number => Math.min(1, Math.max(0, Math.round(c * 1e6) / 1e6));
