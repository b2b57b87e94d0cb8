import { z } from 'zod';
import { reasonCodes, reviewActions, reviewItemStates } from '../../core/review/reviewItem.js';
import { taskNames } from '../../core/tasks.js';

/**
 * The request schemas of the HTTP contract: the handlers validate with these, and the OpenAPI document is
 * generated from them, so the two cannot drift. Checks JSON Schema cannot express (code-point lengths,
 * well-formed Unicode, what a callback URL may be) are refinements; `.meta()` states them for the document.
 */

/** 1 to 255 visible ASCII characters (0x21 to 0x7E); the quoted structured-field form (`"abc"`) fits too. */
export const idempotencyKeyPattern = /^[\x21-\x7e]{1,255}$/;

const MAX_TEXT_CHARS = 100_000;
const MAX_REF_CHARS = 128;
const MAX_NOTE_CHARS = 2_000;

const wellFormed = (s: string) => s.isWellFormed();
/**
 * Code points, without an array of them (a note may run to 100,000): UTF-16 units less the low halves of
 * surrogate pairs. A string of at most `max` units has at most `max` code points, so is not even counted.
 */
const charCount = (s: string): number => s.length - (s.match(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g)?.length ?? 0);
const atMostChars = (s: string, max: number) => s.length <= max || charCount(s) <= max;

const reference = (what: string) =>
  z
    .string()
    .min(1)
    .max(MAX_REF_CHARS)
    .refine(wellFormed, { message: 'must be well-formed Unicode' })
    .meta({
      description: `The caller's own ${what} reference, stored with the inference; never interpreted.`,
    })
    .optional();

export function createInferenceRequestSchema(options: { allowHttpLoopbackCallbacks: boolean }) {
  const callbackUrl = z
    .string()
    .max(2048)
    .refine((value) => isAllowedCallback(value, options.allowHttpLoopbackCallbacks), {
      message: 'must be an https URL',
    })
    .meta({
      format: 'uri',
      description:
        'An https URL on an origin allowed for the tenant (else 422), POSTed the inference resource once a ' +
        'pending review is decided; see the `inferenceDecided` webhook.',
    });
  return z
    .strictObject({
      task: z.enum(taskNames).meta({ description: 'The registered clinical task to run.' }),
      input: z.strictObject({
        text: z
          .string()
          .refine((s) => s.length >= 1, { message: 'must not be empty' })
          .refine((s) => atMostChars(s, MAX_TEXT_CHARS), {
            message: `must be at most ${MAX_TEXT_CHARS} characters`,
          })
          .refine(wellFormed, { message: 'must be well-formed Unicode' })
          .meta({
            minLength: 1,
            maxLength: MAX_TEXT_CHARS,
            description: 'The clinical note (characters are Unicode code points).',
          }),
      }),
      patientRef: reference('patient'),
      encounterRef: reference('encounter'),
      callbackUrl: callbackUrl.optional(),
    })
    .meta({ id: 'InferenceRequest' });
}

function isAllowedCallback(value: string, allowHttpLoopback: boolean): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (url.username || url.password) return false;
  if (url.protocol === 'https:') return true;
  return (
    allowHttpLoopback &&
    url.protocol === 'http:' &&
    ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)
  );
}

const LIMIT_MESSAGE = 'must be an integer from 1 to 200';

/** The query of `GET /v1/reviews`. */
export const reviewListQuerySchema = z.strictObject({
  state: z
    .enum(reviewItemStates)
    .default('pending')
    .meta({ description: 'Items in this state (an expired claim counts as pending).' }),
  limit: z
    .string()
    .regex(/^[0-9]{1,3}$/, LIMIT_MESSAGE)
    .transform(Number)
    .pipe(z.number().int().min(1, LIMIT_MESSAGE).max(200, LIMIT_MESSAGE))
    .default(50)
    .meta({
      description: 'At most this many items, oldest first.',
      // A query parameter arrives as text; the document states the integer it must spell.
      override: ({ jsonSchema }) => {
        for (const key of Object.keys(jsonSchema)) delete jsonSchema[key];
        Object.assign(jsonSchema, { type: 'integer', minimum: 1, maximum: 200, default: 50 });
      },
    }),
});

/**
 * The shape of a decision. What each action requires (an output for edit, a reason for edit and reject) is
 * the domain's rule, checked by the review service, which answers 422 as the contract says.
 */
export const reviewDecisionSchema = z
  .strictObject({
    action: z.enum(reviewActions),
    output: z
      .unknown()
      .optional()
      .meta({ description: "Required for `edit`: the corrected output, fitting the task's output schema." }),
    reasonCode: z
      .enum(reasonCodes)
      .nullable()
      .optional()
      .meta({ description: 'Required for `edit` and `reject`.' }),
    note: z
      .string()
      .refine((s) => [...s].length <= MAX_NOTE_CHARS, {
        message: `must be at most ${MAX_NOTE_CHARS} characters`,
      })
      .refine((s) => s.isWellFormed(), { message: 'must be well-formed Unicode' })
      .meta({ maxLength: MAX_NOTE_CHARS, description: "The reviewer's note (clinical content)." })
      .nullable()
      .optional(),
  })
  .meta({ id: 'ReviewDecisionRequest' });
