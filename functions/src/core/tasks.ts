import { z } from 'zod';

/**
 * The registered clinical tasks: what a model is asked, and the exact shape its output must have. An output
 * that fails its task's schema is never shown to a caller without a reviewer (see core/confidence.ts).
 */

const medication = z.strictObject({
  name: z.string().min(1).max(200),
  dose: z.string().max(100).nullable(),
  route: z.string().max(100).nullable(),
  frequency: z.string().max(100).nullable(),
});

const icd10Code = z.strictObject({
  code: z.string().regex(/^[A-TV-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$/, 'must be an ICD-10-CM code'),
  description: z.string().min(1).max(500),
  evidence: z.string().max(1000),
});

export const taskOutputSchemas = {
  'medication-extraction': z.strictObject({ medications: z.array(medication).max(200) }),
  'clinical-summary': z.strictObject({
    summary: z.string().min(1).max(20_000),
    keyFindings: z.array(z.string().min(1).max(2_000)).max(50),
  }),
  'icd10-suggestion': z.strictObject({ codes: z.array(icd10Code).max(100) }),
} as const;

export type TaskName = keyof typeof taskOutputSchemas;
export const taskNames = Object.keys(taskOutputSchemas) as TaskName[];
export const isTaskName = (name: string): name is TaskName => Object.hasOwn(taskOutputSchemas, name);

/** Bumped whenever an instruction below changes, so an audit can tell which prompt produced an output. */
export const PROMPT_TEMPLATE_VERSION = 'tasks-2026-11-27.1';

const instructions: Record<TaskName, string> = {
  'medication-extraction':
    'Extract every medication in the clinical note. Answer only JSON: {"medications":[{"name":generic name ' +
    'in lower case,"dose":string or null,"route":string or null,"frequency":string or null}]}.',
  'clinical-summary':
    'Summarise the clinical note for a clinician in at most three sentences taken from the note, and list up ' +
    'to five key findings. Answer only JSON: {"summary":string,"keyFindings":[string]}.',
  'icd10-suggestion':
    'Suggest ICD-10-CM codes for the conditions documented in the clinical note, each with the phrase that ' +
    'supports it. Answer only JSON: {"codes":[{"code":string,"description":string,"evidence":string}]}.',
};

export type ChatPrompt = { system: string; user: string };

/**
 * The prompt for a task. The first line of the system message names the task, which the local model servers
 * read; real models take it as part of the instruction.
 */
export function buildPrompt(task: TaskName, text: string): ChatPrompt {
  return { system: `task: ${task}\n${instructions[task]}`, user: text };
}

export type OutputCheck = { ok: true; output: unknown } | { ok: false; problems: string[] };

export function checkOutput(task: TaskName, output: unknown): OutputCheck {
  const result = taskOutputSchemas[task].safeParse(output);
  if (result.success) return { ok: true, output: result.data };
  return {
    ok: false,
    problems: result.error.issues.map((i) => `${i.path.join('.') || '(output)'}: ${i.message}`),
  };
}
