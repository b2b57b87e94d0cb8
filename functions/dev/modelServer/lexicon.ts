import { termKey, wholeWordPattern } from './text.js';

/**
 * Common outpatient and inpatient medications: the lower-case generic name, then the brand names and
 * abbreviations clinicians write for it. A mention of any of them is reported under the generic name.
 */
const medications: Record<string, readonly string[]> = {
  // Cardiovascular
  atorvastatin: ['lipitor'],
  simvastatin: ['zocor'],
  rosuvastatin: ['crestor'],
  pravastatin: ['pravachol'],
  lisinopril: ['zestril', 'prinivil'],
  losartan: ['cozaar'],
  valsartan: ['diovan'],
  amlodipine: ['norvasc'],
  hydrochlorothiazide: ['hctz', 'microzide'],
  furosemide: ['lasix'],
  spironolactone: ['aldactone'],
  metoprolol: ['lopressor', 'toprol', 'toprol xl', 'metoprolol succinate', 'metoprolol tartrate'],
  carvedilol: ['coreg'],
  atenolol: ['tenormin'],
  diltiazem: ['cardizem'],
  hydralazine: [],
  clonidine: ['catapres'],
  'isosorbide mononitrate': ['imdur'],
  nitroglycerin: ['nitrostat', 'ntg'],
  digoxin: ['lanoxin'],
  amiodarone: ['pacerone', 'cordarone'],
  // Antithrombotics
  warfarin: ['coumadin', 'jantoven'],
  apixaban: ['eliquis'],
  rivaroxaban: ['xarelto'],
  clopidogrel: ['plavix'],
  aspirin: ['asa'],
  heparin: [],
  enoxaparin: ['lovenox'],
  // Diabetes and endocrine
  metformin: ['glucophage'],
  glipizide: ['glucotrol'],
  sitagliptin: ['januvia'],
  empagliflozin: ['jardiance'],
  semaglutide: ['ozempic', 'wegovy', 'rybelsus'],
  insulin: [],
  'insulin glargine': ['lantus', 'basaglar', 'toujeo'],
  'insulin lispro': ['humalog'],
  'insulin aspart': ['novolog'],
  levothyroxine: ['synthroid', 'levoxyl'],
  // Respiratory
  albuterol: ['proair', 'ventolin', 'proventil'],
  fluticasone: ['flovent', 'flonase'],
  tiotropium: ['spiriva'],
  montelukast: ['singulair'],
  prednisone: ['deltasone'],
  methylprednisolone: ['medrol', 'solu-medrol'],
  // Gastrointestinal
  omeprazole: ['prilosec'],
  pantoprazole: ['protonix'],
  famotidine: ['pepcid'],
  ondansetron: ['zofran'],
  // Anti-infectives
  amoxicillin: ['amoxil'],
  'amoxicillin-clavulanate': ['augmentin', 'amoxicillin/clavulanate'],
  azithromycin: ['zithromax', 'z-pak', 'zpak'],
  ciprofloxacin: ['cipro'],
  levofloxacin: ['levaquin'],
  ceftriaxone: ['rocephin'],
  cephalexin: ['keflex'],
  doxycycline: ['vibramycin'],
  nitrofurantoin: ['macrobid', 'macrodantin'],
  'sulfamethoxazole-trimethoprim': ['bactrim', 'septra', 'tmp-smx', 'smx-tmp'],
  vancomycin: ['vancocin'],
  'piperacillin-tazobactam': ['zosyn', 'pip-tazo'],
  // Analgesics
  acetaminophen: ['tylenol', 'apap', 'paracetamol'],
  ibuprofen: ['advil', 'motrin'],
  naproxen: ['aleve', 'naprosyn'],
  oxycodone: ['roxicodone', 'oxycontin'],
  'hydrocodone-acetaminophen': ['norco', 'vicodin'],
  morphine: ['ms contin'],
  tramadol: ['ultram'],
  gabapentin: ['neurontin'],
  pregabalin: ['lyrica'],
  // Psychiatric and neurological
  sertraline: ['zoloft'],
  escitalopram: ['lexapro'],
  citalopram: ['celexa'],
  fluoxetine: ['prozac'],
  bupropion: ['wellbutrin'],
  duloxetine: ['cymbalta'],
  trazodone: ['desyrel'],
  quetiapine: ['seroquel'],
  alprazolam: ['xanax'],
  lorazepam: ['ativan'],
  zolpidem: ['ambien'],
  donepezil: ['aricept'],
  // Other
  tamsulosin: ['flomax'],
  finasteride: ['proscar'],
  allopurinol: ['zyloprim'],
  'potassium chloride': ['kcl', 'k-dur', 'klor-con'],
  methotrexate: ['trexall'],
};

/** Every written form (generic, brand, abbreviation) to its generic name. */
const genericByTerm = new Map<string, string>();
for (const [generic, others] of Object.entries(medications)) {
  for (const term of [generic, ...others]) genericByTerm.set(termKey(term), generic);
}

const medicationPattern = wholeWordPattern(genericByTerm.keys());

export type MedicationMention = { generic: string; start: number; end: number };

/** Every medication mention in `text`, in order; longer names win ("insulin glargine" over "insulin"). */
export function findMedications(text: string): MedicationMention[] {
  const mentions: MedicationMention[] = [];
  // matchAll and search work on copies / ignore lastIndex, so sharing the compiled pattern is safe.
  for (const m of text.matchAll(medicationPattern)) {
    const generic = genericByTerm.get(termKey(m[0]));
    if (generic) mentions.push({ generic, start: m.index, end: m.index + m[0].length });
  }
  return mentions;
}

export const mentionsMedication = (text: string): boolean => text.search(medicationPattern) >= 0;
