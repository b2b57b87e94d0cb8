import { z } from 'zod';

/**
 * Ways a provider answers badly while seeming to answer, for fault injection:
 *
 * - `html`: 200 with an HTML page (a proxy's error page), `empty-choices`: a completion with no choices,
 * - `prose`: a completion whose content is prose, not JSON, `wrong-schema`: valid JSON of the wrong shape,
 * - `invalid-json`: a 200 body that is not JSON, `truncated`: the body stops midway and the connection drops,
 * - `hang`: never answers (until the client gives up or the server closes).
 */
export const faults = [
  'html',
  'empty-choices',
  'prose',
  'invalid-json',
  'truncated',
  'wrong-schema',
  'hang',
] as const;
export type Fault = (typeof faults)[number];

/**
 * How a model server misbehaves on purpose, set by tests and operators through `PUT /admin/behaviour`.
 * `confidence: null` is the default, content-derived confidence; a number pins every token's probability.
 * `fault` replaces the `failStatus` answer of the failing share of calls (`failRate`), or, with `failRate`
 * 0, applies to every call.
 */
export const behaviourSchema = z.strictObject({
  failRate: z.number().min(0).max(1),
  failStatus: z.number().int().min(400).max(599),
  latencyMs: z.number().int().min(0).max(120_000),
  confidence: z.number().min(0).max(1).nullable(),
  fault: z.enum(faults).nullable(),
});
export type Behaviour = z.infer<typeof behaviourSchema>;

/** A partial update: only the fields given change. Unknown fields are rejected, so a typo is not ignored. */
export const behaviourPatchSchema = behaviourSchema.partial();
export type BehaviourPatch = z.infer<typeof behaviourPatchSchema>;

export const defaultBehaviour: Readonly<Behaviour> = Object.freeze({
  failRate: 0,
  failStatus: 500,
  latencyMs: 0,
  confidence: null,
  fault: null,
});

/** Rates are kept in parts per million so the schedule below is exact integer arithmetic. */
const PPM = 1_000_000;

/**
 * Which calls fail at failure rate r: the k-th call counted since the rate was last set fails exactly when
 * floor(k·r) > floor((k−1)·r). Over any run of calls the failures are spread evenly and their number is
 * within one of the rate times the run's length; exact when that product is whole: r = 1 fails every call,
 * r = 0.5 every second call, r = 0.05 the 20th, 40th, ..., so any 100 consecutive calls hold exactly 5.
 * No randomness, so a test can assert exact counts and an outage can be replayed.
 */
export class FailureSchedule {
  private ratePpm = 0;
  private calls = 0;

  /** Restarts the sequence, so that setting a rate always starts from the same phase. */
  setRate(rate: number): void {
    this.ratePpm = Math.round(rate * PPM);
    this.calls = 0;
  }

  /** Counts one call and says whether it fails. */
  next(): boolean {
    const k = ++this.calls;
    return Math.floor((k * this.ratePpm) / PPM) > Math.floor(((k - 1) * this.ratePpm) / PPM);
  }
}
