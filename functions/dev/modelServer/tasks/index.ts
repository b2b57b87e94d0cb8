import type { ScoredJson } from '../scoredJson.js';
import { summariseNote } from './clinicalSummary.js';
import { suggestIcd10Codes } from './icd10Suggestion.js';
import { extractMedications } from './medicationExtraction.js';

/**
 * What the local model can do, by the task name the gateway writes on the first line of its system message
 * (`task: medication-extraction`). Each task is a pure function of the note's text.
 */
export const tasks = {
  'medication-extraction': extractMedications,
  'icd10-suggestion': suggestIcd10Codes,
  'clinical-summary': summariseNote,
} as const satisfies Record<string, (text: string) => ScoredJson>;

export type TaskName = keyof typeof tasks;

export const isTaskName = (name: string): name is TaskName => Object.hasOwn(tasks, name);
