/**
 * Plain-text helpers shared by the tasks: sentence spans, clause windows and a NegEx-style check for findings
 * the patient does not have. Everything works on offsets into the original note, so whatever a task quotes
 * is a verbatim substring of it.
 */

export type Span = { start: number; end: number; text: string };

/** Words that end in a period without ending a sentence ("Dr. Patel", "b.i.d. with meals"). */
const ABBREVIATIONS =
  'dr mr mrs ms vs etc approx st pt hx dx fig e.g i.e a.m p.m p.o b.i.d t.i.d q.i.d q.d q.h.s p.r.n h.s';
const abbreviations = new Set(ABBREVIATIONS.split(' '));

/**
 * Sentences as trimmed spans of `text`. A sentence ends at a newline, or at `.`/`!`/`?` followed by whitespace
 * and then something other than a lower-case letter, unless the period closes a known abbreviation.
 */
export function splitSentences(text: string): Span[] {
  const spans: Span[] = [];
  let start = 0;
  const boundary = /[.!?]+(?=\s)|\n/g;
  for (let m = boundary.exec(text); m !== null; m = boundary.exec(text)) {
    const end = m.index + m[0].length;
    if (m[0] !== '\n') {
      const next = /\S/.exec(text.slice(end, end + 8));
      if (next && /\p{Ll}/u.test(next[0])) continue;
      const word = /([\p{L}.]+)\.$/u.exec(text.slice(Math.max(start, m.index - 12), end));
      if (m[0] === '.' && word?.[1] && abbreviations.has(word[1].toLowerCase())) continue;
    }
    pushTrimmed(spans, text, start, end);
    start = end;
  }
  pushTrimmed(spans, text, start, text.length);
  return spans;
}

function pushTrimmed(spans: Span[], text: string, start: number, end: number): void {
  let s = start;
  let e = end;
  while (s < e && /\s/.test(text[s]!)) s++;
  while (e > s && /\s/.test(text[e - 1]!)) e--;
  if (e > s) spans.push({ start: s, end: e, text: text.slice(s, e) });
}

/**
 * Where the clause that continues at `from` ends: the first semicolon, newline or sentence-ending punctuation
 * followed by a capitalised word. "500 mg p.o. b.i.d." stays one clause; "PO BID. Started ..." does not.
 */
const clauseEnd = /[;\n]|[.!?](?=\s+\p{Lu}\p{Ll}|\s*$)/u;

export function clauseAfter(text: string, from: number, limit: number): string {
  const window = text.slice(from, limit);
  const end = clauseEnd.exec(window);
  return end ? window.slice(0, end.index) : window;
}

/** The text from the start of the clause holding `at` up to `at`, at most `maxChars` long. */
export function clauseBefore(text: string, at: number, maxChars: number): string {
  const window = text.slice(Math.max(0, at - maxChars), at);
  const starts = [...window.matchAll(/[;\n]|[.!?]\s+/g)];
  const last = starts.at(-1);
  return last ? window.slice(last.index + last[0].length) : window;
}

/**
 * A cue within the few words before a finding, in its clause, that says the patient does not have it:
 * "denies chest pain", "no history of asthma", "rule out sepsis", "family history of diabetes". Deliberately
 * small (the NegEx idea, not its full trigger list).
 */
const notAffirmedCue =
  /(?<![\p{L}\p{N}])(?:no|not|denies|denied|without|negative for|free of|rules? out|ruled out|r\/o|family history of|fh of|fhx of)(?![\p{L}\p{N}])/iu;

export function isNotAffirmed(text: string, at: number): boolean {
  const before = clauseBefore(text, at, 60);
  const words = before.split(/\s+/).filter(Boolean).slice(-6).join(' ');
  return notAffirmedCue.test(words);
}

/** Builds one case-insensitive, whole-word alternation over `terms`, longest first so the longest wins. */
export function wholeWordPattern(terms: Iterable<string>): RegExp {
  const alternatives = [...new Set(terms)]
    .sort((a, b) => b.length - a.length || a.localeCompare(b))
    .map((t) => t.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&').replace(/ /g, '\\s+'));
  return new RegExp(`(?<![\\p{L}\\p{N}])(?:${alternatives.join('|')})(?![\\p{L}\\p{N}])`, 'giu');
}

/** The key a matched phrase is looked up by: lower case, whitespace collapsed. */
export const termKey = (phrase: string): string => phrase.toLowerCase().replace(/\s+/g, ' ');

/** A prefix of `text` at most `max` characters long, cut at a word boundary when there is one. */
export function truncateAtWord(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.slice(0, max);
  const space = cut.search(/\s\S*$/);
  return (space > max / 2 ? cut.slice(0, space) : cut).trimEnd();
}
