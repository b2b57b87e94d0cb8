import { termKey, wholeWordPattern } from './text.js';

/**
 * A small ICD-10-CM table of common conditions. Each term says how it names the condition, which sets how
 * sure the model pretends to be: the clinical name is unambiguous, a lay synonym less so, an acronym least
 * (CAD, MI and OA each mean more than one thing).
 */
export type TermKind = 'canonical' | 'synonym' | 'abbreviation';

type Condition = {
  code: string;
  description: string;
  canonical: readonly string[];
  synonyms?: readonly string[];
  abbreviations?: readonly string[];
};

const conditions: readonly Condition[] = [
  {
    code: 'I10',
    description: 'Essential (primary) hypertension',
    canonical: ['hypertension', 'essential hypertension', 'primary hypertension'],
    synonyms: ['high blood pressure'],
    abbreviations: ['htn'],
  },
  {
    code: 'E11.9',
    description: 'Type 2 diabetes mellitus without complications',
    canonical: ['type 2 diabetes mellitus', 'diabetes mellitus type 2', 'type ii diabetes mellitus'],
    // Guidelines default diabetes of undocumented type to E11.
    synonyms: [
      'type 2 diabetes',
      'type ii diabetes',
      'diabetes mellitus',
      'diabetes',
      'adult-onset diabetes',
    ],
    abbreviations: ['t2dm', 'dm2', 'dm ii', 'niddm', 'type 2 dm', 'type ii dm', 'dm'],
  },
  {
    code: 'E10.9',
    description: 'Type 1 diabetes mellitus without complications',
    canonical: ['type 1 diabetes mellitus', 'diabetes mellitus type 1', 'type i diabetes mellitus'],
    synonyms: ['type 1 diabetes', 'type i diabetes', 'juvenile diabetes'],
    abbreviations: ['t1dm', 'dm1', 'iddm', 'type 1 dm', 'type i dm'],
  },
  {
    code: 'E78.5',
    description: 'Hyperlipidemia, unspecified',
    canonical: ['hyperlipidemia'],
    synonyms: ['dyslipidemia', 'high cholesterol'],
    abbreviations: ['hld'],
  },
  {
    code: 'E78.00',
    description: 'Pure hypercholesterolemia, unspecified',
    canonical: ['hypercholesterolemia'],
  },
  {
    code: 'I50.9',
    description: 'Heart failure, unspecified',
    canonical: ['heart failure', 'congestive heart failure'],
    synonyms: ['cardiac failure'],
    abbreviations: ['chf'],
  },
  {
    code: 'I25.10',
    description: 'Atherosclerotic heart disease of native coronary artery without angina pectoris',
    canonical: ['coronary artery disease'],
    synonyms: ['atherosclerotic heart disease', 'ischemic heart disease'],
    abbreviations: ['cad'],
  },
  {
    code: 'I21.9',
    description: 'Acute myocardial infarction, unspecified',
    canonical: ['acute myocardial infarction', 'myocardial infarction'],
    synonyms: ['heart attack'],
    abbreviations: ['ami', 'mi'],
  },
  {
    code: 'I48.91',
    description: 'Unspecified atrial fibrillation',
    canonical: ['atrial fibrillation'],
    synonyms: ['a-fib', 'a fib'],
    abbreviations: ['afib'],
  },
  {
    code: 'I63.9',
    description: 'Cerebral infarction, unspecified',
    canonical: ['cerebral infarction', 'ischemic stroke'],
    synonyms: ['stroke'],
    abbreviations: ['cva'],
  },
  {
    code: 'G45.9',
    description: 'Transient cerebral ischemic attack, unspecified',
    canonical: ['transient ischemic attack'],
    synonyms: ['mini-stroke'],
    abbreviations: ['tia'],
  },
  {
    code: 'J44.1',
    description: 'Chronic obstructive pulmonary disease with (acute) exacerbation',
    canonical: [
      'chronic obstructive pulmonary disease with acute exacerbation',
      'chronic obstructive pulmonary disease exacerbation',
      'exacerbation of chronic obstructive pulmonary disease',
    ],
    abbreviations: ['copd exacerbation', 'exacerbation of copd', 'aecopd'],
  },
  {
    code: 'J44.9',
    description: 'Chronic obstructive pulmonary disease, unspecified',
    canonical: ['chronic obstructive pulmonary disease'],
    synonyms: ['emphysema'],
    abbreviations: ['copd'],
  },
  {
    code: 'J45.901',
    description: 'Unspecified asthma with (acute) exacerbation',
    canonical: ['asthma exacerbation', 'exacerbation of asthma', 'asthma attack'],
  },
  {
    code: 'J45.909',
    description: 'Unspecified asthma, uncomplicated',
    canonical: ['asthma'],
    synonyms: ['reactive airway disease'],
  },
  {
    code: 'J18.9',
    description: 'Pneumonia, unspecified organism',
    canonical: ['pneumonia'],
    synonyms: ['community-acquired pneumonia', 'community acquired pneumonia'],
    abbreviations: ['pna'],
  },
  {
    code: 'J06.9',
    description: 'Acute upper respiratory infection, unspecified',
    canonical: ['upper respiratory infection', 'upper respiratory tract infection'],
    synonyms: ['common cold'],
    abbreviations: ['uri'],
  },
  {
    code: 'N18.9',
    description: 'Chronic kidney disease, unspecified',
    canonical: ['chronic kidney disease'],
    synonyms: ['chronic renal insufficiency', 'chronic renal failure'],
    abbreviations: ['ckd'],
  },
  {
    code: 'N17.9',
    description: 'Acute kidney failure, unspecified',
    canonical: ['acute kidney injury', 'acute kidney failure'],
    synonyms: ['acute renal failure'],
    abbreviations: ['aki', 'arf'],
  },
  {
    code: 'N39.0',
    description: 'Urinary tract infection, site not specified',
    canonical: ['urinary tract infection'],
    synonyms: ['bladder infection'],
    abbreviations: ['uti'],
  },
  {
    code: 'E03.9',
    description: 'Hypothyroidism, unspecified',
    canonical: ['hypothyroidism'],
    synonyms: ['underactive thyroid'],
  },
  {
    code: 'E05.90',
    description: 'Thyrotoxicosis, unspecified without thyrotoxic crisis or storm',
    canonical: ['hyperthyroidism', 'thyrotoxicosis'],
    synonyms: ['overactive thyroid'],
  },
  { code: 'E66.9', description: 'Obesity, unspecified', canonical: ['obesity'], synonyms: ['obese'] },
  { code: 'E87.1', description: 'Hypo-osmolality and hyponatremia', canonical: ['hyponatremia'] },
  { code: 'E87.6', description: 'Hypokalemia', canonical: ['hypokalemia'], synonyms: ['low potassium'] },
  { code: 'E86.0', description: 'Dehydration', canonical: ['dehydration'], synonyms: ['dehydrated'] },
  {
    code: 'D50.9',
    description: 'Iron deficiency anemia, unspecified',
    canonical: ['iron deficiency anemia'],
    abbreviations: ['ida'],
  },
  { code: 'D64.9', description: 'Anemia, unspecified', canonical: ['anemia'], synonyms: ['anaemia'] },
  {
    code: 'E55.9',
    description: 'Vitamin D deficiency, unspecified',
    canonical: ['vitamin d deficiency'],
    synonyms: ['low vitamin d'],
  },
  {
    code: 'F32.9',
    description: 'Major depressive disorder, single episode, unspecified',
    canonical: ['major depressive disorder', 'major depression'],
    synonyms: ['depression'],
    abbreviations: ['mdd'],
  },
  {
    code: 'F41.1',
    description: 'Generalized anxiety disorder',
    canonical: ['generalized anxiety disorder'],
    abbreviations: ['gad'],
  },
  {
    code: 'F41.9',
    description: 'Anxiety disorder, unspecified',
    canonical: ['anxiety disorder'],
    synonyms: ['anxiety'],
  },
  {
    code: 'F10.20',
    description: 'Alcohol dependence, uncomplicated',
    canonical: ['alcohol dependence', 'alcohol use disorder'],
    synonyms: ['alcoholism'],
    abbreviations: ['aud'],
  },
  {
    code: 'F17.210',
    description: 'Nicotine dependence, cigarettes, uncomplicated',
    canonical: ['nicotine dependence'],
    synonyms: ['current smoker', 'cigarette smoker', 'tobacco use'],
  },
  {
    code: 'G47.33',
    description: 'Obstructive sleep apnea (adult) (pediatric)',
    canonical: ['obstructive sleep apnea'],
    synonyms: ['sleep apnea'],
    abbreviations: ['osa'],
  },
  {
    code: 'K21.9',
    description: 'Gastro-esophageal reflux disease without esophagitis',
    canonical: ['gastroesophageal reflux disease', 'gastro-esophageal reflux disease'],
    synonyms: ['acid reflux', 'reflux'],
    abbreviations: ['gerd'],
  },
  {
    code: 'M54.50',
    description: 'Low back pain, unspecified',
    canonical: ['low back pain'],
    synonyms: ['lumbago', 'lower back pain'],
    abbreviations: ['lbp'],
  },
  {
    code: 'M19.90',
    description: 'Unspecified osteoarthritis, unspecified site',
    canonical: ['osteoarthritis'],
    synonyms: ['degenerative joint disease'],
    abbreviations: ['djd', 'oa'],
  },
  {
    code: 'M06.9',
    description: 'Rheumatoid arthritis, unspecified',
    canonical: ['rheumatoid arthritis'],
  },
  {
    code: 'M81.0',
    description: 'Age-related osteoporosis without current pathological fracture',
    canonical: ['osteoporosis'],
  },
  { code: 'M10.9', description: 'Gout, unspecified', canonical: ['gout'] },
  {
    code: 'G43.909',
    description: 'Migraine, unspecified, not intractable, without status migrainosus',
    canonical: ['migraine'],
    synonyms: ['migraines', 'migraine headache'],
  },
  {
    code: 'G40.909',
    description: 'Epilepsy, unspecified, not intractable, without status epilepticus',
    canonical: ['epilepsy'],
    synonyms: ['seizure disorder'],
  },
  {
    code: 'G30.9',
    description: "Alzheimer's disease, unspecified",
    canonical: ["alzheimer's disease", 'alzheimer disease'],
    synonyms: ["alzheimer's", 'alzheimers'],
  },
  {
    code: 'F03.90',
    description: 'Unspecified dementia, unspecified severity, without behavioral disturbance',
    canonical: ['dementia'],
  },
  { code: 'A41.9', description: 'Sepsis, unspecified organism', canonical: ['sepsis'] },
  {
    code: 'I26.99',
    description: 'Other pulmonary embolism without acute cor pulmonale',
    canonical: ['pulmonary embolism'],
  },
  {
    code: 'I82.409',
    description: 'Acute embolism and thrombosis of unspecified deep veins of unspecified lower extremity',
    canonical: ['deep vein thrombosis', 'deep venous thrombosis'],
    abbreviations: ['dvt'],
  },
  {
    code: 'I73.9',
    description: 'Peripheral vascular disease, unspecified',
    canonical: ['peripheral vascular disease', 'peripheral artery disease', 'peripheral arterial disease'],
    abbreviations: ['pvd'],
  },
  {
    code: 'N40.0',
    description: 'Benign prostatic hyperplasia without lower urinary tract symptoms',
    canonical: ['benign prostatic hyperplasia'],
    synonyms: ['enlarged prostate'],
    abbreviations: ['bph'],
  },
  { code: 'L03.90', description: 'Cellulitis, unspecified', canonical: ['cellulitis'] },
  { code: 'R07.9', description: 'Chest pain, unspecified', canonical: ['chest pain'] },
  {
    code: 'R06.02',
    description: 'Shortness of breath',
    canonical: ['shortness of breath'],
    synonyms: ['short of breath', 'dyspnea'],
    abbreviations: ['sob'],
  },
  {
    code: 'R50.9',
    description: 'Fever, unspecified',
    canonical: ['fever'],
    synonyms: ['febrile', 'pyrexia'],
  },
];

/**
 * Phrases that contain a condition's name but mean something else ("ST depression" is an ECG finding). They
 * are matched like terms, so the longer phrase wins, and then skipped.
 */
const lookalikes = [
  'st depression',
  'st-segment depression',
  'st segment depression',
  'respiratory depression',
  'cns depression',
  'stroke volume',
  'heat stroke',
];

export type ConditionMatch = {
  code: string;
  description: string;
  kind: TermKind;
  /** The phrase as written in the note. */
  evidence: string;
  start: number;
};

const byTerm = new Map<string, { condition: Condition; kind: TermKind }>();
for (const condition of conditions) {
  const kinds = [
    ['canonical', condition.canonical],
    ['synonym', condition.synonyms ?? []],
    ['abbreviation', condition.abbreviations ?? []],
  ] as const;
  for (const [kind, terms] of kinds) {
    for (const term of terms) byTerm.set(termKey(term), { condition, kind });
  }
}

const conditionPattern = wholeWordPattern([...byTerm.keys(), ...lookalikes]);

/** Every condition named in `text`, in order of appearance (repeats included, lookalikes not). */
export function findConditions(text: string): ConditionMatch[] {
  const found: ConditionMatch[] = [];
  for (const m of text.matchAll(conditionPattern)) {
    const entry = byTerm.get(termKey(m[0]));
    if (!entry) continue;
    const { condition, kind } = entry;
    found.push({
      code: condition.code,
      description: condition.description,
      kind,
      evidence: m[0],
      start: m.index,
    });
  }
  return found;
}

export const mentionsCondition = (text: string): boolean => findConditions(text).length > 0;
