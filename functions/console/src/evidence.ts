/**
 * Evidence for a proposal: the phrases of the note that each proposed fact stands on (a medication's name
 * and dose, an ICD-10 code's evidence phrase, a summary's sentences and key findings), found in the note so
 * the reviewer sees them highlighted. Pure functions (no DOM), shared with the unit tests.
 */

export type Evidence = { label: string; phrase: string };
export type Segment = { text: string; label: string | null };
export type Highlighted = { segments: Segment[]; missing: Evidence[] };

const obj = (v: unknown): Record<string, unknown> =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const text = (v: unknown): string => (typeof v === 'string' ? v.trim() : '');

/** The phrases to look for in the note, per task. */
export function evidenceOf(task: string, output: unknown): Evidence[] {
  const o = obj(output);
  const found: Evidence[] = [];
  const add = (label: string, phrase: string) => {
    if (phrase.length >= 2) found.push({ label, phrase });
  };
  switch (task) {
    case 'medication-extraction':
      for (const m of arr(o.medications)) {
        const name = text(obj(m).name);
        add(`medication ${name}`, name);
        add(`dose of ${name}`, text(obj(m).dose));
      }
      break;
    case 'icd10-suggestion':
      for (const c of arr(o.codes)) {
        const code = obj(c);
        const label = `${text(code.code)} ${text(code.description)}`.trim();
        add(label, text(code.evidence) || text(code.description));
      }
      break;
    case 'clinical-summary':
      for (const sentence of sentencesOf(text(o.summary))) add('summary sentence', sentence);
      for (const finding of arr(o.keyFindings)) add('key finding', text(finding));
      break;
  }
  return found;
}

export const sentencesOf = (s: string): string[] =>
  s
    .split(/(?<=[.!?])\s+/u)
    .map((x) => x.trim())
    .filter(Boolean);

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A phrase as a pattern: any case, any run of whitespace, a trailing full stop optional. */
function patternOf(phrase: string): RegExp {
  const body = escapeRegExp(phrase.replace(/[.]$/, '')).split(/\s+/u).join('\\s+');
  const edgeStart = /^\w/u.test(phrase) ? '(?<![\\p{L}\\p{N}])' : '';
  const edgeEnd = /\w$/u.test(phrase.replace(/[.]$/, '')) ? '(?![\\p{L}\\p{N}])' : '';
  return new RegExp(`${edgeStart}${body}${edgeEnd}`, 'giu');
}

/**
 * The note cut into plain and highlighted segments. Every occurrence of every phrase is marked; where two
 * overlap, the longer phrase wins. Evidence that does not occur in the note is returned as `missing`.
 */
export function highlight(note: string, evidence: readonly Evidence[]): Highlighted {
  type Range = { start: number; end: number; label: string };
  const ranges: Range[] = [];
  const missing: Evidence[] = [];
  for (const e of evidence) {
    let any = false;
    for (const match of note.matchAll(patternOf(e.phrase))) {
      if (match[0].length === 0) continue;
      any = true;
      ranges.push({ start: match.index, end: match.index + match[0].length, label: e.label });
    }
    if (!any) missing.push(e);
  }
  ranges.sort((a, b) => b.end - b.start - (a.end - a.start) || a.start - b.start);
  const accepted: Range[] = [];
  for (const r of ranges) {
    if (!accepted.some((a) => r.start < a.end && a.start < r.end)) accepted.push(r);
  }
  accepted.sort((a, b) => a.start - b.start);
  const segments: Segment[] = [];
  let at = 0;
  for (const r of accepted) {
    if (r.start > at) segments.push({ text: note.slice(at, r.start), label: null });
    segments.push({ text: note.slice(r.start, r.end), label: r.label });
    at = r.end;
  }
  if (at < note.length) segments.push({ text: note.slice(at), label: null });
  return { segments, missing };
}
