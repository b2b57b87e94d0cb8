import { mentionsCondition } from '../icd10Table.js';
import { mentionsMedication } from '../lexicon.js';
import { type ScoredJson, scored } from '../scoredJson.js';
import { type Span, splitSentences, truncateAtWord } from '../text.js';

/**
 * `clinical-summary`, extractive: the three highest-scoring sentences of the note, in the note's order, and up
 * to five short clauses that name a condition, a medication or an abnormal value. Everything returned is a
 * verbatim substring of the note, which is what lets a test (or a reviewer) check it.
 *
 * Confidence grows with how much of the note the chosen sentences cover: three sentences of a three-sentence
 * note say everything, three of forty may miss what matters.
 */

const SUMMARY_SENTENCES = 3;
const MAX_SENTENCE_CHARS = 500;
const MAX_FINDINGS = 5;
const MAX_FINDING_CHARS = 160;

const clinicalCue =
  /(?<!\p{L})(?:presents?|presented|admitted|diagnosed|diagnosis|history of|assessment|impression|plan|started|discontinued|elevated|decreased|increased|abnormal|acute|chronic|worsening|improved|positive|complains? of)(?!\p{L})/giu;
const measurement =
  /\d+(?:\.\d+)?\s*(?:mg\/dl|mmol\/l|mmhg|bpm|%|kg|°[cf])|(?<![\d/])\d{2,3}\/\d{2,3}(?![\d/])/giu;
const abnormal =
  /(?<!\p{L})(?:elevated|high|low|decreased|increased|abnormal|positive|worsening)(?!\p{L})|\d+(?:\.\d+)?\s*(?:mg\/dl|mmol\/l|mmhg|bpm|%)|(?<![\d/])\d{2,3}\/\d{2,3}(?![\d/])/iu;

const count = (pattern: RegExp, text: string, cap: number): number =>
  Math.min(cap, text.match(pattern)?.length ?? 0);

/** Clinical content first, then measurements, with a nudge for the opening sentence (usually the reason). */
function sentenceScore(sentence: Span, index: number, total: number): number {
  const text = sentence.text;
  let score = 0;
  if (mentionsCondition(text)) score += 2;
  if (mentionsMedication(text)) score += 2;
  score += count(clinicalCue, text, 3) + count(measurement, text, 3);
  if (index === 0) score += 1.5;
  else if (index === total - 1) score += 0.5;
  if (text.split(/\s+/).length < 4) score -= 1;
  return score;
}

export function summariseNote(text: string): ScoredJson {
  const sentences = splitSentences(text);
  // Only whitespace: nothing to extract, but a non-empty note still gets a non-empty summary.
  if (sentences.length === 0)
    return scored({ summary: text.slice(0, MAX_SENTENCE_CHARS), keyFindings: [] }, 0.3);

  const chosen = sentences
    .map((sentence, index) => ({ sentence, index, score: sentenceScore(sentence, index, sentences.length) }))
    .sort((a, b) => b.score - a.score || a.index - b.index)
    .slice(0, SUMMARY_SENTENCES)
    .sort((a, b) => a.index - b.index)
    .map(({ sentence }) => truncateAtWord(sentence.text, MAX_SENTENCE_CHARS));

  const noteChars = sentences.reduce((sum, s) => sum + s.text.length, 0);
  const chosenChars = chosen.reduce((sum, s) => sum + s.length, 0);
  const confidence = Math.round((0.55 + 0.4 * (chosenChars / noteChars)) * 1000) / 1000;
  return scored({ summary: chosen.join(' '), keyFindings: keyFindings(sentences) }, confidence);
}

function keyFindings(sentences: readonly Span[]): string[] {
  const findings: string[] = [];
  for (const sentence of sentences) {
    for (const piece of sentence.text.split(/[,;:]\s*/)) {
      const clause = truncateAtWord(piece.trim().replace(/[.!?]+$/, ''), MAX_FINDING_CHARS);
      if (clause.length === 0 || findings.includes(clause)) continue;
      if (mentionsCondition(clause) || mentionsMedication(clause) || abnormal.test(clause))
        findings.push(clause);
      if (findings.length === MAX_FINDINGS) return findings;
    }
  }
  return findings;
}
