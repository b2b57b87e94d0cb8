/**
 * Tokenisation and OpenAI-style token logprobs.
 *
 * A token is a run of letters, a run of digits, a run of whitespace or any other single character. The scheme
 * only has to be deterministic and lossless: the tokens of a text concatenate back to exactly that text.
 */

const tokenPattern = /\p{L}+|\p{N}+|\s+|[^\p{L}\p{N}\s]/gu;

export function tokenize(text: string): string[] {
  return text.match(tokenPattern) ?? [];
}

/** How many tokens `text` has, without building them (used for `usage.prompt_tokens` of long notes). */
export function countTokens(text: string): number {
  const pattern = new RegExp(tokenPattern);
  let count = 0;
  while (pattern.exec(text) !== null) count++;
  return count;
}

/** One entry of `choices[0].logprobs.content`, as OpenAI sends it. */
export type TokenLogprob = { token: string; logprob: number; bytes: number[]; top_logprobs: [] };

/**
 * JSON cannot carry -Infinity, so a probability of 0 is sent as this very negative, finite logprob; the
 * gateway's exp(mean logprob) still comes out as 0 (exp(-9999) underflows to 0).
 */
export const LOGPROB_OF_ZERO = -9999;

export const logprobOf = (p: number): number => (p > 0 ? Math.log(p) : LOGPROB_OF_ZERO);

const utf8 = new TextEncoder();

export function tokenLogprob(token: string, p: number): TokenLogprob {
  return { token, logprob: logprobOf(p), bytes: Array.from(utf8.encode(token)), top_logprobs: [] };
}
