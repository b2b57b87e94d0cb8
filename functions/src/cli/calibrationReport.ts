import type { TimeRange } from '../core/audit/auditQuery.js';
import type {
  CalibrationTarget,
  CandidateRow,
  GroupCalibration,
  Recommendation,
} from '../core/audit/calibration.js';

/** The calibration report as printed by `audit:calibrate`, and as `--json` prints it. */
export type CalibrationReport = {
  task: string;
  range: TimeRange;
  target: CalibrationTarget;
  groups: GroupCalibration[];
};

/** Rows shown in the text table: every 0.05, plus the threshold in force and the recommended one. */
const SHOWN_EVERY = 5;

export function calibrationText(report: CalibrationReport): string[] {
  const { target } = report;
  const lines = [
    `Calibration of ${report.task}, outputs scored ${report.range.from.toISOString()} to ${report.range.to.toISOString()}: ` +
      `target error rate ≤ ${pct(target.alpha)} among outputs that skip review, at ${pct(1 - target.delta)} confidence`,
  ];
  if (report.groups.length === 0) {
    lines.push('  no scored outputs of this task in this range');
    return lines;
  }
  for (const g of report.groups) {
    lines.push(
      '',
      `model ${g.model}, scorer ${g.scorerVersion}, prompt template ${g.promptTemplateVersion}: ` +
        `${g.outputs} outputs, ${g.reviewed} reviewed (${g.undecided} undecided, counted as errors), ` +
        `sample rate ${fmt(g.sampleRate, 3)}, threshold in force ${g.currentThreshold}` +
        (g.thresholdsSeen.length > 1 ? ` (seen: ${g.thresholdsSeen.join(', ')})` : ''),
    );
    const recommended = g.recommendation.kind === 'threshold' ? g.recommendation.threshold : null;
    const shown = g.rows.filter(
      (r, k) =>
        r.outputs > 0 &&
        (k % SHOWN_EVERY === 0 || r.threshold === g.current?.threshold || r.threshold === recommended),
    );
    const header = [
      't',
      'outputs ≥ t',
      'census',
      'sampled',
      'errors',
      'estimate',
      'upper',
      'n_eff',
      'review share',
      '',
    ];
    const body = shown.map((r) => [
      r.threshold.toFixed(2),
      String(r.outputs),
      String(r.census),
      `${r.sampled}/${r.eligible}`,
      String(r.censusErrors + r.sampledErrors),
      r.estimate === null ? '-' : pct(r.estimate),
      r.estimate === null ? '-' : pct(r.upper),
      fmt(r.effectiveSampleSize, 0),
      pct(r.reviewShare),
      note(r, g, recommended, target),
    ]);
    lines.push(...table([header, ...body]));
    lines.push(...recommendationLines(g.recommendation, g, target));
  }
  return lines;
}

function note(r: CandidateRow, g: GroupCalibration, recommended: number | null, target: CalibrationTarget) {
  const marks: string[] = [];
  if (r.threshold === g.current?.threshold) marks.push('in force');
  if (r.threshold === recommended) marks.push('recommended');
  if (r.upper > target.alpha && r.moreSampledReviewsNeeded !== null)
    marks.push(`+${r.moreSampledReviewsNeeded} sampled reviews to bound`);
  return marks.join('; ');
}

function recommendationLines(rec: Recommendation, g: GroupCalibration, target: CalibrationTarget): string[] {
  if (rec.kind === 'threshold') {
    const now = g.current;
    const comparison =
      now && now.threshold !== rec.threshold
        ? `, against ${pct(now.reviewShare)} at the threshold in force ${g.currentThreshold}`
        : '';
    return [
      `  recommended threshold ${rec.threshold}: the error rate of outputs scoring ${rec.threshold} or more is at most ` +
        `${pct(rec.upper)} (≤ ${pct(target.alpha)}) with ${pct(1 - target.delta)} confidence; ` +
        `${pct(rec.reviewShare)} of outputs reviewed${comparison}.`,
      '  It takes effect only when an operator changes the task’s reviewThreshold in ROUTING_CONFIG.',
    ];
  }
  const more =
    rec.moreSampledReviewsNeeded === null
      ? ''
      : ` About ${rec.moreSampledReviewsNeeded} more sampled reviews of outputs at or above ${g.currentThreshold} (at today's error rate) would be needed to bound it there.`;
  return [`  no threshold recommended: ${rec.detail}.${more}`];
}

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
const fmt = (v: number, digits: number) => v.toFixed(digits);

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => `  ${r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')}`.trimEnd());
}
