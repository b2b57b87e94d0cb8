import jstat from 'jstat';

/**
 * Review thresholds set by evidence (docs/calibration.md has the method with its formulas).
 *
 * For each candidate threshold `t` of a task (one group per model, scorer version and prompt template, which
 * never mix), the question is: of the outputs scoring `t` or more — the ones that would reach the clinician
 * before any reviewer — how many are wrong? Reviews answer it for two kinds of outputs:
 *
 *   census   below the threshold in force at the time: every one was reviewed (chance 1);
 *   sampled  at or above it: a random share `π` was reviewed (chance `π`, read from the data as the share
 *            `n_B / N_B` of such outputs that were sampled, which is also the chance given the sample's size).
 *
 * An output is an error when the reviewer edited or rejected it; one whose review is not decided yet counts
 * as an error (a threshold is never justified by reviews still to be done). The estimate weights each
 * reviewed output by the inverse of its chance of review; the upper bound is Fay and Feuer's gamma bound for
 * a weighted sum of counts, which takes those weights as they are and reduces to the exact Poisson (Garwood)
 * bound when they are all equal. The recommendation walks the candidates from the highest down and stops at
 * the first whose bound exceeds the target (fixed-sequence testing), so choosing among many thresholds costs
 * no multiplicity correction: with probability at least `1 − δ` the recommended threshold's error rate is at
 * most `α`.
 *
 * Pure: no I/O. The numbers in, a report out; a threshold only ever changes by an operator's configuration.
 */

export type ReviewAction = 'approve' | 'edit' | 'reject';

/** What calibration needs to know about one output, read from its audit events. */
export type ReviewOutcome = {
  inferenceId: string;
  task: string;
  model: string;
  scorerVersion: string;
  promptTemplateVersion: string;
  confidence: number;
  /** The threshold in force when the output was scored. */
  threshold: number;
  /** When it was scored (ms since the epoch): the latest output's threshold is the one in force now. */
  at: number;
  /** `census`: withheld below the threshold, always reviewed; `sampled`: confident and sampled; `none`. */
  review: 'census' | 'sampled' | 'none';
  /** The reviewer's last action; null while undecided (or never reviewed). */
  action: ReviewAction | null;
};

export type GroupKey = Pick<ReviewOutcome, 'task' | 'model' | 'scorerVersion' | 'promptTemplateVersion'>;

export type CalibrationTarget = {
  /** The highest acceptable error rate among outputs that skip review (e.g. 0.02). */
  alpha: number;
  /** One minus the confidence of the statement (e.g. 0.05 for 95 %). */
  delta: number;
};

/** The candidate thresholds: 0, 0.01, …, 0.99, 1. */
export const GRID_STEPS = 100;
export const candidateThresholds: readonly number[] = Array.from(
  { length: GRID_STEPS + 1 },
  (_, k) => k / GRID_STEPS,
);

/** The outputs in `[t, 1]` at one candidate threshold, by how they were reviewed. */
export type StratumCounts = {
  /** Census: outputs below the threshold of their time (all reviewed), and how many were errors. */
  census: number;
  censusErrors: number;
  /** Outputs at or above the threshold of their time, how many of them were sampled, and sampled errors. */
  eligible: number;
  sampled: number;
  sampledErrors: number;
};

export type CandidateRow = StratumCounts & {
  threshold: number;
  /** Outputs scoring `threshold` or more: those that would skip review (but for sampling). */
  outputs: number;
  /** Inverse-probability-weighted error rate among them; null when it cannot be estimated. */
  estimate: number | null;
  /** One-sided upper confidence bound at `1 − δ`; 1 when the data say nothing. */
  upper: number;
  /** Kish's effective sample size of the weighted reviews: what the bound's width corresponds to. */
  effectiveSampleSize: number;
  /** Expected share of all outputs reviewed at this threshold: those below it plus the sampled share above. */
  reviewShare: number;
  /**
   * When the bound is above the target although the estimate is below it: how many more sampled reviews of
   * outputs at or above this threshold (more traffic at today's rates) would bring the bound under the
   * target. Null when the bound is met already, or when no number would do (the estimate is at or above
   * the target, or so close to it that more than a million would be needed).
   */
  moreSampledReviewsNeeded: number | null;
};

export type Recommendation =
  | { kind: 'threshold'; threshold: number; upper: number; reviewShare: number }
  | {
      kind: 'none';
      /**
       * `no_outputs`; `too_few_reviews`: no candidate could pass even had every review been an approval;
       * `bound_exceeded`: the highest candidate that could pass did not.
       */
      reason: 'no_outputs' | 'too_few_reviews' | 'bound_exceeded';
      detail: string;
      /** At the threshold in force: more sampled reviews needed, if any number would do. */
      moreSampledReviewsNeeded: number | null;
    };

export type GroupCalibration = GroupKey & {
  outputs: number;
  reviewed: number;
  /** Reviews started but not decided: counted as errors. */
  undecided: number;
  /** Share of confident outputs that were sampled: the review sample rate seen in the data. */
  sampleRate: number;
  /** The threshold of the latest output, and the distinct ones seen. */
  currentThreshold: number;
  thresholdsSeen: number[];
  current: CandidateRow | null;
  rows: CandidateRow[];
  recommendation: Recommendation;
};

const isError = (o: ReviewOutcome) => o.action !== 'approve';

/**
 * Counts per confidence bin, so that a group's memory does not grow with its traffic. Bin `k` holds the
 * outputs with `k/100 ≤ confidence < (k+1)/100` (bin 100 holds confidence 1), so the counts at or above a
 * candidate threshold are exact sums of bins.
 */
type Bins = { [K in keyof StratumCounts]: number[] };

type GroupTally = GroupKey & {
  bins: Bins;
  outputs: number;
  reviewed: number;
  undecided: number;
  latest: { at: number; threshold: number };
  thresholds: Set<number>;
};

export class CalibrationTally {
  private readonly groups = new Map<string, GroupTally>();

  add(o: ReviewOutcome): void {
    if (!(o.confidence >= 0 && o.confidence <= 1)) throw new RangeError('confidence must be in [0, 1]');
    const key = JSON.stringify([o.task, o.model, o.scorerVersion, o.promptTemplateVersion]);
    let g = this.groups.get(key);
    if (!g) {
      const zeros = () => new Array<number>(GRID_STEPS + 1).fill(0);
      g = {
        task: o.task,
        model: o.model,
        scorerVersion: o.scorerVersion,
        promptTemplateVersion: o.promptTemplateVersion,
        bins: {
          census: zeros(),
          censusErrors: zeros(),
          eligible: zeros(),
          sampled: zeros(),
          sampledErrors: zeros(),
        },
        outputs: 0,
        reviewed: 0,
        undecided: 0,
        latest: { at: o.at, threshold: o.threshold },
        thresholds: new Set(),
      };
      this.groups.set(key, g);
    }
    const k = binOf(o.confidence);
    g.outputs++;
    g.thresholds.add(o.threshold);
    if (o.at >= g.latest.at) g.latest = { at: o.at, threshold: o.threshold };
    if (o.review !== 'none') {
      g.reviewed++;
      if (o.action === null) g.undecided++;
    }
    if (o.review === 'census') {
      g.bins.census[k]!++;
      if (isError(o)) g.bins.censusErrors[k]!++;
    } else {
      g.bins.eligible[k]!++;
      if (o.review === 'sampled') {
        g.bins.sampled[k]!++;
        if (isError(o)) g.bins.sampledErrors[k]!++;
      }
    }
  }

  /** One calibration per group, sorted by task, model, scorer version, prompt template. */
  report(target: CalibrationTarget): GroupCalibration[] {
    checkTarget(target);
    return [...this.groups.values()]
      .map((g) => calibrateGroup(g, target))
      .sort(
        (a, b) =>
          a.task.localeCompare(b.task) ||
          a.model.localeCompare(b.model) ||
          a.scorerVersion.localeCompare(b.scorerVersion) ||
          a.promptTemplateVersion.localeCompare(b.promptTemplateVersion),
      );
  }
}

export async function calibrate(
  outcomes: Iterable<ReviewOutcome> | AsyncIterable<ReviewOutcome>,
  target: CalibrationTarget,
): Promise<GroupCalibration[]> {
  checkTarget(target);
  const tally = new CalibrationTally();
  for await (const o of outcomes) tally.add(o);
  return tally.report(target);
}

function checkTarget({ alpha, delta }: CalibrationTarget): void {
  if (!(alpha > 0 && alpha < 1)) throw new RangeError('alpha must be in (0, 1)');
  if (!(delta > 0 && delta < 1)) throw new RangeError('delta must be in (0, 1)');
}

/** The largest `k` with `k/100 ≤ c`, computed so that `c ≥ t` and "bin ≥ t's bin" never disagree. */
export function binOf(confidence: number): number {
  let k = Math.min(GRID_STEPS, Math.floor(confidence * GRID_STEPS));
  while (k < GRID_STEPS && confidence >= (k + 1) / GRID_STEPS) k++;
  while (k > 0 && confidence < k / GRID_STEPS) k--;
  return k;
}

function calibrateGroup(g: GroupTally, target: CalibrationTarget): GroupCalibration {
  const totalEligible = sum(g.bins.eligible, 0);
  const sampleRate = totalEligible === 0 ? 0 : sum(g.bins.sampled, 0) / totalEligible;
  const rows = candidateThresholds.map((threshold, k) => {
    const counts: StratumCounts = {
      census: sum(g.bins.census, k),
      censusErrors: sum(g.bins.censusErrors, k),
      eligible: sum(g.bins.eligible, k),
      sampled: sum(g.bins.sampled, k),
      sampledErrors: sum(g.bins.sampledErrors, k),
    };
    return candidateRow(threshold, counts, { total: g.outputs, sampleRate }, target);
  });
  // The candidate at the threshold in force (thresholds are set in hundredths; another is read at the
  // hundredth below it).
  const current = rows[binOf(g.latest.threshold)] ?? null;
  return {
    task: g.task,
    model: g.model,
    scorerVersion: g.scorerVersion,
    promptTemplateVersion: g.promptTemplateVersion,
    outputs: g.outputs,
    reviewed: g.reviewed,
    undecided: g.undecided,
    sampleRate,
    currentThreshold: g.latest.threshold,
    thresholdsSeen: [...g.thresholds].sort((a, b) => a - b),
    current,
    rows,
    recommendation: recommend(rows, current, target),
  };
}

/**
 * One candidate threshold. With `N_A` census outputs (`x_A` errors) and `N_B` eligible outputs of which
 * `n_B` were sampled (`x_B` errors) at or above `t`, `N = N_A + N_B` and the sampled weight `w = N_B / n_B`:
 *
 *   estimate  θ̂ = (x_A + w·x_B) / N
 *   bound     Fay–Feuer with y = θ̂, v = (x_A + w²·x_B) / N², w_M = max weight / N:
 *             upper = Gamma⁻¹(1 − δ; shape (y + w_M)² / (v + w_M²), scale (v + w_M²) / (y + w_M))
 */
export function candidateRow(
  threshold: number,
  counts: StratumCounts,
  population: { total: number; sampleRate: number },
  target: CalibrationTarget,
): CandidateRow {
  const { census, eligible, sampled } = counts;
  const outputs = census + eligible;
  const below = population.total - outputs;
  // At threshold t every output below it is reviewed, and the sample rate applies to all the others.
  const reviewShare =
    population.total === 0 ? 0 : (below + population.sampleRate * outputs) / population.total;
  const base = { threshold, ...counts, outputs, reviewShare };
  if (outputs === 0) {
    // Nothing scored this high: nothing would skip review, so there is nothing to be wrong about — but
    // nothing to recommend either. Reported as unknown.
    return { ...base, estimate: null, upper: 1, effectiveSampleSize: 0, moreSampledReviewsNeeded: null };
  }
  if (eligible > 0 && sampled === 0) {
    return {
      ...base,
      estimate: null,
      upper: 1,
      effectiveSampleSize: census,
      moreSampledReviewsNeeded: reviewsForEmptySample(target),
    };
  }
  const bound = weightedBound(counts, target.delta);
  const moreSampledReviewsNeeded =
    bound.upper <= target.alpha || bound.estimate >= target.alpha ? null : reviewsNeeded(counts, target);
  return { ...base, ...bound, moreSampledReviewsNeeded };
}

/** Estimate, bound and effective sample size of the outputs in `counts` (at least one sampled if any eligible). */
export function weightedBound(
  { census, censusErrors, eligible, sampled, sampledErrors }: StratumCounts,
  delta: number,
): { estimate: number; upper: number; effectiveSampleSize: number } {
  const n = census + eligible;
  const w = eligible === 0 ? 1 : eligible / sampled;
  const estimate = (censusErrors + w * sampledErrors) / n;
  const variance = (censusErrors + w * w * sampledErrors) / (n * n);
  const maxWeight = (eligible > 0 ? w : 1) / n;
  const upper = fayFeuerUpper(estimate, variance, maxWeight, delta);
  const effectiveSampleSize = (n * n) / (census + (eligible > 0 ? (eligible * eligible) / sampled : 0));
  return { estimate, upper, effectiveSampleSize };
}

/**
 * Fay and Feuer (1997), "Confidence intervals for directly standardized rates: a method based on the gamma
 * distribution", Statistics in Medicine 16:791–801: the upper limit for `Σ wᵢ·xᵢ` with independent counts
 * `xᵢ`, given its value `y`, its variance estimate `v = Σ wᵢ²·xᵢ` and the largest weight `w_M`.
 */
export function fayFeuerUpper(y: number, v: number, maxWeight: number, delta: number): number {
  const shape = (y + maxWeight) ** 2 / (v + maxWeight ** 2);
  const scale = (v + maxWeight ** 2) / (y + maxWeight);
  return Math.min(1, gammaQuantile(1 - delta, shape, scale));
}

/**
 * jStat's gamma quantile iterates for a time that grows with the shape (about 1 ms at 10⁴, far more at the
 * 10⁶ a large census reaches). From a shape of 1000 on, Wilson and Hilferty's cube-root normal approximation
 * is used instead: its relative error there is below 10⁻⁶, and it only gets better with the shape.
 */
const WILSON_HILFERTY_FROM_SHAPE = 1000;

export function gammaQuantile(p: number, shape: number, scale: number): number {
  if (shape < WILSON_HILFERTY_FROM_SHAPE) return jstat.jStat.gamma.inv(p, shape, scale);
  const z = jstat.jStat.normal.inv(p, 0, 1);
  const a = 1 / (9 * shape);
  return shape * scale * (1 - a + z * Math.sqrt(a)) ** 3;
}

/** With no sampled review at all, even a clean sample must be this large for the bound to reach `alpha`. */
const reviewsForEmptySample = ({ alpha, delta }: CalibrationTarget) => Math.ceil(-Math.log(delta) / alpha);

/** Beyond this many more reviews, "not at today's error rate" is the useful answer. */
const MAX_MORE_REVIEWS = 1_000_000;

/**
 * The fewest extra sampled reviews at or above the threshold that bring the bound to the target, if the
 * traffic grows at today's rates (every count scaled by one factor `f`, the error shares kept). The bound's
 * excess over the estimate shrinks about as `1/√f`, which gives the first guess; bisection finds the count.
 */
function reviewsNeeded(counts: StratumCounts, target: CalibrationTarget): number | null {
  // Census outputs grow with the traffic too; the number asked for is the sampled reviews among the new
  // ones, or all new reviews when the region has no sampled outputs (only census).
  const base = counts.eligible > 0 ? counts.sampled : counts.census;
  const scaled = (f: number): StratumCounts => ({
    census: counts.census * f,
    censusErrors: counts.censusErrors * f,
    eligible: counts.eligible * f,
    sampled: counts.sampled * f,
    sampledErrors: counts.sampledErrors * f,
  });
  const passes = (more: number) => weightedBound(scaled(1 + more / base), target.delta).upper <= target.alpha;
  const now = weightedBound(counts, target.delta);
  const guess = base * ((now.upper - now.estimate) / (target.alpha - now.estimate)) ** 2;
  let high = Math.max(1, Math.ceil(guess));
  while (!passes(high)) {
    high *= 2;
    if (high > MAX_MORE_REVIEWS) return null;
  }
  let low = 0;
  // To within one review, or 1 % of the answer: the rates it assumes are not known better than that.
  while (high - low > Math.max(1, high / 100)) {
    const mid = Math.floor((low + high) / 2);
    if (passes(mid)) high = mid;
    else low = mid;
  }
  return high;
}

/**
 * Fixed-sequence testing (as in Angelopoulos et al., "Learn then Test", 2021): from the highest candidate
 * that could pass at all (its bound with zero errors is within the target: this depends only on how many
 * outputs were reviewed, not on what reviewers found, so it may choose where to start), walk down while
 * the bound stays within the target. The lowest threshold reached is recommended.
 */
export function recommend(
  rows: readonly CandidateRow[],
  current: CandidateRow | null,
  target: CalibrationTarget,
): Recommendation {
  const atCurrent = current?.moreSampledReviewsNeeded ?? null;
  if (rows.every((r) => r.outputs === 0)) {
    return {
      kind: 'none',
      reason: 'no_outputs',
      detail: 'no scored outputs in this range',
      moreSampledReviewsNeeded: null,
    };
  }
  let start = -1;
  for (let k = rows.length - 1; k >= 0; k--) {
    if (couldPass(rows[k]!, target)) {
      start = k;
      break;
    }
  }
  if (start < 0) {
    return {
      kind: 'none',
      reason: 'too_few_reviews',
      detail:
        'too few reviews to bound the error rate at any threshold, even if every reviewed output had been approved',
      moreSampledReviewsNeeded: atCurrent ?? reviewsForEmptySample(target),
    };
  }
  let chosen: CandidateRow | null = null;
  for (let k = start; k >= 0; k--) {
    const row = rows[k]!;
    if (row.upper > target.alpha) break;
    chosen = row;
  }
  if (!chosen) {
    const first = rows[start]!;
    return {
      kind: 'none',
      reason: 'bound_exceeded',
      detail: `the upper bound at ${first.threshold} (the highest threshold with enough reviews) is ${first.upper.toFixed(4)}, above the target`,
      moreSampledReviewsNeeded: atCurrent,
    };
  }
  return {
    kind: 'threshold',
    threshold: chosen.threshold,
    upper: chosen.upper,
    reviewShare: chosen.reviewShare,
  };
}

function couldPass(row: CandidateRow, target: CalibrationTarget): boolean {
  if (row.outputs === 0 || (row.eligible > 0 && row.sampled === 0)) return false;
  const clean = { ...row, censusErrors: 0, sampledErrors: 0 };
  return weightedBound(clean, target.delta).upper <= target.alpha;
}

function sum(values: readonly number[], from: number): number {
  let total = 0;
  for (let i = from; i < values.length; i++) total += values[i]!;
  return total;
}
