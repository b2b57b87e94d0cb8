import { tokenize } from './tokens.js';

/**
 * A task's answer as JSON in which some subtrees carry how sure the "model" is of them. Rendering it gives
 * the compact JSON text and, for every token of that text, the probability the model gives it:
 *
 * - every token inside `scored(value, p)` (its braces, keys and quotes too) gets `p`, the innermost wins;
 * - tokens outside any scored subtree (the envelope, such as `{"medications":[`) get `STRUCTURE_P`.
 *
 * The gateway's scorer takes exp(mean logprob), the geometric mean of the token probabilities, so the
 * overall confidence is a geometric mean of the item confidences weighted by each item's token count, pulled
 * slightly towards 1 by the envelope. A task that wants a low score for an empty answer scores the whole root.
 */
export type ScoredJson = string | number | boolean | null | Scored | readonly ScoredJson[] | ScoredObject;
type ScoredObject = { readonly [key: string]: ScoredJson };

export class Scored {
  constructor(
    readonly value: ScoredJson,
    readonly p: number,
  ) {}
}

export const scored = (value: ScoredJson, p: number): Scored => new Scored(value, p);

/** Near-certain: a model reproducing the JSON shape it was asked for. */
export const STRUCTURE_P = 0.999;

export type ScoredToken = { text: string; p: number };

export function renderScored(root: ScoredJson): { content: string; tokens: ScoredToken[] } {
  const segments: ScoredToken[] = [];
  const emit = (text: string, p: number): void => {
    const last = segments.at(-1);
    if (last && last.p === p) last.text += text;
    else segments.push({ text, p });
  };
  const walk = (node: ScoredJson, p: number): void => {
    if (node instanceof Scored) {
      walk(node.value, node.p);
    } else if (node === null || typeof node !== 'object') {
      emit(JSON.stringify(node), p);
    } else if (isArray(node)) {
      emit('[', p);
      node.forEach((item, i) => {
        if (i > 0) emit(',', p);
        walk(item, p);
      });
      emit(']', p);
    } else {
      emit('{', p);
      Object.entries(node).forEach(([key, value], i) => {
        emit(`${i > 0 ? ',' : ''}${JSON.stringify(key)}:`, p);
        walk(value, p);
      });
      emit('}', p);
    }
  };
  walk(root, STRUCTURE_P);
  // Segment borders always fall on punctuation, so tokenising segment by segment equals tokenising the whole.
  const tokens = segments.flatMap((s) => tokenize(s.text).map((text) => ({ text, p: s.p })));
  return { content: segments.map((s) => s.text).join(''), tokens };
}

const isArray = (node: ScoredJson): node is readonly ScoredJson[] => Array.isArray(node);
