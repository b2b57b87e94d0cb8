import { findMedications } from '../lexicon.js';
import { type ScoredJson, scored } from '../scoredJson.js';
import { clauseAfter, clauseBefore } from '../text.js';

/**
 * `medication-extraction`: every lexicon medication in the note, with the dose, route and frequency written
 * after it in the same clause (up to the next medication mention).
 *
 * Confidence per medication: a fully specified order ("500 mg PO BID") is what a model reads best; each
 * missing piece makes it less sure; a mention under a stop or allergy cue might not be a current medication
 * at all, so it goes to a reviewer. Finding nothing is itself doubtful: the whole answer then scores 0.5.
 */

type Rule = { pattern: RegExp; normalise: (m: RegExpExecArray) => string };

/** Whole-word, case-insensitive; `\.?` lets dotted forms ("b.i.d.") match like plain ones. */
const word = (source: string): RegExp =>
  new RegExp(`(?<![\\p{L}\\p{N}])(?:${source})(?![\\p{L}\\p{N}])`, 'iu');
const fixed = (source: string, normalised: string): Rule => ({
  pattern: word(source),
  normalise: () => normalised,
});

const everyHours: Rule = {
  pattern: word(
    String.raw`q\.?\s?(\d{1,2})(?:\s*-\s*(\d{1,2}))?\s?(?:h|hr|hrs|hours?)\.?|every\s+(\d{1,2})(?:\s*(?:-|to)\s*(\d{1,2}))?\s+hours?`,
  ),
  normalise: (m) => {
    const from = m[1] ?? m[3];
    const to = m[2] ?? m[4];
    if (!to && from === '24') return 'once daily';
    return `every ${to ? `${from}-${to}` : from} hours`;
  },
};

/** Scheduled frequencies; the one written first in the clause wins (the longer one at the same place). */
const frequencyRules: readonly Rule[] = [
  everyHours,
  fixed(String.raw`q\.?d\.?|qday|daily|once\s+(?:a|per)\s+day|once\s+daily|every\s+day`, 'once daily'),
  fixed(
    String.raw`b\.?i\.?d\.?|twice\s+(?:a|per)\s+day|twice\s+daily|two\s+times\s+(?:a|per)\s+day|two\s+times\s+daily`,
    'twice daily',
  ),
  fixed(String.raw`t\.?i\.?d\.?|three\s+times\s+(?:a\s+day|per\s+day|daily)`, 'three times daily'),
  fixed(String.raw`q\.?i\.?d\.?|four\s+times\s+(?:a\s+day|per\s+day|daily)`, 'four times daily'),
  fixed(String.raw`q\.?h\.?s\.?|h\.?s\.?|at\s+bedtime|before\s+bed|nightly|at\s+night`, 'at bedtime'),
  fixed(String.raw`q\.?\s?am|every\s+morning|in\s+the\s+morning`, 'every morning'),
  fixed(String.raw`q\.?o\.?d\.?|every\s+other\s+day`, 'every other day'),
  fixed(String.raw`weekly|once\s+(?:a|per)\s+week|q\.?\s?week|qwk`, 'once weekly'),
  fixed(String.raw`stat|once|x\s?1`, 'once'),
];

const asNeeded = word(String.raw`p\.?r\.?n\.?|as\s+needed|as-needed|when\s+needed`);

const routeRules: readonly Rule[] = [
  fixed(String.raw`p\.?o\.?|per\s+os|by\s+mouth|orally|oral`, 'oral'),
  fixed(String.raw`i\.?v\.?|ivpb|iv\s+push|intravenous(?:ly)?`, 'IV'),
  fixed(String.raw`i\.?m\.?|intramuscular(?:ly)?`, 'IM'),
  fixed(String.raw`s\.?c\.?|subq|sub-q|sq|subcut|subcutaneous(?:ly)?`, 'subcutaneous'),
  fixed(String.raw`inhaled|inhalation|inh|via\s+(?:inhaler|nebuli[sz]er)|nebuli[sz]ed|nebs?|mdi`, 'inhaled'),
  fixed(String.raw`s\.?l\.?|sublingual(?:ly)?`, 'sublingual'),
  fixed('topical(?:ly)?|apply|applied', 'topical'),
  fixed('transdermal(?:ly)?|patch', 'transdermal'),
  fixed('intranasal(?:ly)?|nasal(?:ly)?', 'intranasal'),
  fixed(String.raw`p\.?r\.?|rectal(?:ly)?|per\s+rectum`, 'rectal'),
];

const dosePattern =
  /(?<![\p{L}\p{N}.])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?:\s*(?:-|to)\s*(\d+(?:\.\d+)?))?\s*(mg\/kg\/day|mg\/kg|mcg\/kg\/min|mcg\/kg|mg|mcg|µg|ug|grams?|g|units?|iu|ml|meq|puffs?|tablets?|tabs?|capsules?|caps?|drops?|sprays?|%)(?!\p{L})/iu;

const unitNames: Record<string, string> = {
  µg: 'mcg',
  ug: 'mcg',
  gram: 'g',
  grams: 'g',
  iu: 'IU',
  ml: 'mL',
  meq: 'mEq',
  tab: 'tablet',
  tabs: 'tablet',
  tablets: 'tablet',
  cap: 'capsule',
  caps: 'capsule',
  capsules: 'capsule',
  units: 'unit',
  puffs: 'puff',
  drops: 'drop',
  sprays: 'spray',
};
/** Units counted in whole things, which read "2 tablets" but "1 tablet". */
const countable = new Set(['tablet', 'capsule', 'unit', 'puff', 'drop', 'spray']);

function findDose(clause: string): string | null {
  const m = dosePattern.exec(clause);
  if (!m) return null;
  const amount = m[2] ? `${m[1]}-${m[2]}` : m[1]!.replace(/,(?=\d{3})/g, '');
  const raw = m[3]!.toLowerCase();
  const unit = unitNames[raw] ?? raw;
  const plural = countable.has(unit) && amount !== '1' ? `${unit}s` : unit;
  return unit === '%' ? `${amount}%` : `${amount} ${plural}`;
}

/** The rule matching earliest in `clause`; at the same place the longer match ("once daily" over "once"). */
function firstMatch(rules: readonly Rule[], clause: string): string | null {
  let best: { index: number; length: number; value: string } | null = null;
  for (const rule of rules) {
    const m = rule.pattern.exec(clause);
    if (!m) continue;
    if (!best || m.index < best.index || (m.index === best.index && m[0].length > best.length)) {
      best = { index: m.index, length: m[0].length, value: rule.normalise(m) };
    }
  }
  return best?.value ?? null;
}

function findFrequency(clause: string): string | null {
  const scheduled = firstMatch(frequencyRules, clause);
  const prn = asNeeded.test(clause);
  if (scheduled && prn) return `${scheduled} as needed`;
  return prn ? 'as needed' : scheduled;
}

const stopOrAllergyCue =
  /(?<!\p{L})(?:stopped|discontinued|discontinue|d\/c'?d|held|holding|no longer|allerg(?:y|ies|ic)|intoleran(?:t|ce))(?!\p{L})/iu;

/** How far past a mention its dose and frequency may be written. */
const CLAUSE_CHARS = 160;

type Medication = { name: string; dose: string | null; route: string | null; frequency: string | null };

export function extractMedications(text: string): ScoredJson {
  const mentions = findMedications(text);
  const byName = new Map<string, Medication & { doubtful: boolean }>();
  mentions.forEach((mention, i) => {
    const next = mentions[i + 1]?.start ?? text.length;
    const clause = clauseAfter(text, mention.end, Math.min(next, mention.end + CLAUSE_CHARS));
    const found = {
      dose: findDose(clause),
      route: firstMatch(routeRules, clause),
      frequency: findFrequency(clause),
    };
    const doubtful =
      stopOrAllergyCue.test(clauseBefore(text, mention.start, 60)) || stopOrAllergyCue.test(clause);
    const known = byName.get(mention.generic);
    if (!known) {
      byName.set(mention.generic, { name: mention.generic, ...found, doubtful });
      return;
    }
    // A later mention fills in what an earlier one left out ("Metformin held. Resume metformin 500 mg BID.").
    known.dose ??= found.dose;
    known.route ??= found.route;
    known.frequency ??= found.frequency;
    known.doubtful ||= doubtful;
  });

  if (byName.size === 0) return scored({ medications: [] }, 0.5);
  const medications = [...byName.values()].map(({ doubtful, ...medication }) =>
    scored(medication, medicationConfidence(medication, doubtful)),
  );
  return { medications };
}

function medicationConfidence(m: Medication, doubtful: boolean): number {
  const complete = m.dose !== null && m.frequency !== null;
  const partial = m.dose !== null || m.frequency !== null;
  const p = complete ? (m.route ? 0.97 : 0.95) : partial ? (m.route ? 0.75 : 0.72) : m.route ? 0.65 : 0.6;
  return doubtful ? Math.min(p, 0.6) : p;
}
