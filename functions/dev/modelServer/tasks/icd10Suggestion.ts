import { findConditions, type TermKind } from '../icd10Table.js';
import { type ScoredJson, scored } from '../scoredJson.js';
import { isNotAffirmed } from '../text.js';

/**
 * `icd10-suggestion`: one code per condition the note affirms, in order of first mention, with the phrase
 * that names it as evidence. Mentions the patient does not have ("denies chest pain", "family history of
 * diabetes") are left out.
 *
 * Confidence per code follows how the condition was named (see icd10Table.ts); a note with no recognisable
 * condition gets a low score as a whole, so an empty answer is looked at by a reviewer.
 */
const confidenceByKind: Record<TermKind, number> = { canonical: 0.95, synonym: 0.85, abbreviation: 0.75 };
const NOTHING_FOUND_CONFIDENCE = 0.4;

export function suggestIcd10Codes(text: string): ScoredJson {
  const seen = new Set<string>();
  const codes: ScoredJson[] = [];
  for (const match of findConditions(text)) {
    if (seen.has(match.code) || isNotAffirmed(text, match.start)) continue;
    seen.add(match.code);
    const { code, description, evidence } = match;
    codes.push(scored({ code, description, evidence }, confidenceByKind[match.kind]));
  }
  return codes.length > 0 ? { codes } : scored({ codes: [] }, NOTHING_FOUND_CONFIDENCE);
}
