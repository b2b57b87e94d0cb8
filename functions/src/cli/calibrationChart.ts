import { scaleLinear } from 'd3-scale';
import { area, line } from 'd3-shape';
import {
  type CalibrationTarget,
  type CandidateRow,
  type GroupCalibration,
  weightedBound,
} from '../core/audit/calibration.js';

/**
 * The calibration of one group as an SVG chart, written by `audit:calibrate --chart FILE`:
 *
 *   top     a reliability diagram: reviewer-confirmed correctness (1 − error rate) of each confidence band
 *           against its confidence, the diagonal of a perfectly calibrated score, and for each candidate
 *           threshold t the correctness of all outputs scoring t or more with its one-sided bound band
 *           (between the estimate and the `1 − δ` lower bound), and the target line `1 − α`;
 *   bottom  the share of outputs reviewed at each candidate threshold;
 *
 * with the threshold in force and the recommended one marked on both. Plain SVG text: no browser, no fonts
 * to embed.
 */

const WIDTH = 760;
const MARGIN = { left: 64, right: 24 };
const TOP = { y: 56, height: 300 };
const BOTTOM = { y: 420, height: 130 };
const HEIGHT = BOTTOM.y + BOTTOM.height + 72;
const BAND_WIDTH = 0.1;

const colours = {
  estimate: '#1f5fa8',
  band: '#9ec3ea',
  bands: '#333333',
  diagonal: '#b0b0b0',
  target: '#c0392b',
  current: '#7f7f7f',
  recommended: '#1e8449',
  share: '#6c3483',
} as const;

export function calibrationChart(group: GroupCalibration, target: CalibrationTarget): string {
  const x = scaleLinear()
    .domain([0, 1])
    .range([MARGIN.left, WIDTH - MARGIN.right]);
  const rows = group.rows.filter((r) => r.estimate !== null);
  const bands = confidenceBands(group.rows, target.delta);
  // The axis shows the estimates, the bands and the target; where the bound says little (few outputs above
  // a high t) its band runs off the bottom of the axis rather than squashing everything else.
  const lowest = Math.min(
    1 - target.alpha - 0.05,
    ...rows.map((r) => 1 - (r.estimate ?? 0)),
    ...bands.map((b) => b.correct),
  );
  const yMin = Math.max(0, Math.min(0.9, Math.floor(lowest * 10) / 10));
  const y = scaleLinear()
    .domain([yMin, 1])
    .range([TOP.y + TOP.height, TOP.y]);
  const share = scaleLinear()
    .domain([0, 1])
    .range([BOTTOM.y + BOTTOM.height, BOTTOM.y]);

  const estimateLine = line<CandidateRow>()
    .x((r) => x(r.threshold))
    .y((r) => y(1 - (r.estimate ?? 0)));
  const boundArea = area<CandidateRow>()
    .x((r) => x(r.threshold))
    .y0((r) => y(Math.max(yMin, 1 - r.upper)))
    .y1((r) => y(1 - (r.estimate ?? 0)));
  const shareLine = line<CandidateRow>()
    .x((r) => x(r.threshold))
    .y((r) => share(r.reviewShare));

  const recommended = group.recommendation.kind === 'threshold' ? group.recommendation.threshold : null;
  const title = `${group.task} · ${group.model} · scorer ${group.scorerVersion} · prompt ${group.promptTemplateVersion}`;
  const subtitle =
    `${group.outputs} outputs, ${group.reviewed} reviewed (sample rate ${fmt(group.sampleRate)}); ` +
    `target: error ≤ ${pct(target.alpha)} at ${pct(1 - target.delta)} confidence; ` +
    (recommended === null
      ? 'no threshold recommended'
      : `recommended ${recommended} (review share ${pct(group.recommendation.kind === 'threshold' ? group.recommendation.reviewShare : 0)})`);

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" role="img" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
    `<title>${escapeXml(`Review threshold calibration: ${title}. ${subtitle}`)}</title>`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    text(MARGIN.left, 20, title, { size: 14, weight: 'bold' }),
    text(MARGIN.left, 38, subtitle, { size: 11, fill: '#444444' }),
    // Top panel: reliability.
    ...axes(x, y, TOP, 'confidence (band) · threshold t (curve)', 'correct (reviewer-confirmed)'),
    path(
      line<number>()
        .x((c) => x(c))
        .y((c) => y(Math.max(yMin, c)))([yMin, 1]) ?? '',
      { stroke: colours.diagonal, dash: '2 3' },
    ),
    path(boundArea(rows) ?? '', { fill: colours.band, opacity: 0.6 }),
    path(estimateLine(rows) ?? '', { stroke: colours.estimate, width: 2 }),
    hline(x, y(1 - target.alpha), colours.target, `target 1 − α = ${fmt(1 - target.alpha)}`),
    ...bands.map(
      (b) =>
        `<circle cx="${num(x(b.confidence))}" cy="${num(y(Math.max(yMin, b.correct)))}" r="${num(2.5 + Math.min(5, Math.sqrt(b.outputs) / 4))}" fill="${colours.bands}" fill-opacity="0.75"/>`,
    ),
    ...marker(x, TOP, group.currentThreshold, recommended),
    // Bottom panel: review share.
    ...axes(x, share, BOTTOM, 'threshold t', 'share reviewed'),
    path(shareLine(group.rows) ?? '', { stroke: colours.share, width: 2 }),
    ...marker(x, BOTTOM, group.currentThreshold, recommended, 'bottom'),
    ...legend(),
    '</svg>',
  ];
  return `${parts.join('\n')}\n`;
}

/** Correctness of each confidence band, weighted as the bound weights it (census 1, sampled N_B / n_B). */
function confidenceBands(rows: readonly CandidateRow[], delta: number) {
  const steps = Math.round(BAND_WIDTH * (rows.length - 1));
  const bands: { confidence: number; correct: number; outputs: number }[] = [];
  for (let k = 0; k < rows.length - 1; k += steps) {
    const low = rows[k]!;
    const high = rows[Math.min(rows.length - 1, k + steps)]!;
    const last = k + steps >= rows.length - 1;
    // The last band also holds confidence 1.
    const minus = (a: number, b: number) => a - (last ? 0 : b);
    const counts = {
      census: minus(low.census, high.census),
      censusErrors: minus(low.censusErrors, high.censusErrors),
      eligible: minus(low.eligible, high.eligible),
      sampled: minus(low.sampled, high.sampled),
      sampledErrors: minus(low.sampledErrors, high.sampledErrors),
    };
    const outputs = counts.census + counts.eligible;
    if (outputs === 0 || (counts.eligible > 0 && counts.sampled === 0)) continue;
    const { estimate } = weightedBound(counts, delta);
    bands.push({ confidence: low.threshold + BAND_WIDTH / 2, correct: 1 - estimate, outputs });
  }
  return bands;
}

type Scale = ((v: number) => number) & { ticks(count?: number): number[] };

function axes(x: Scale, y: Scale, panel: { y: number; height: number }, xLabel: string, yLabel: string) {
  const bottom = panel.y + panel.height;
  const out = [
    `<line x1="${MARGIN.left}" y1="${bottom}" x2="${WIDTH - MARGIN.right}" y2="${bottom}" stroke="#000000"/>`,
    `<line x1="${MARGIN.left}" y1="${panel.y}" x2="${MARGIN.left}" y2="${bottom}" stroke="#000000"/>`,
  ];
  for (const t of x.ticks(10)) {
    out.push(
      `<line x1="${num(x(t))}" y1="${bottom}" x2="${num(x(t))}" y2="${bottom + 4}" stroke="#000000"/>`,
    );
    out.push(text(x(t), bottom + 16, fmt(t), { anchor: 'middle' }));
  }
  for (const t of y.ticks(5)) {
    out.push(
      `<line x1="${MARGIN.left}" y1="${num(y(t))}" x2="${WIDTH - MARGIN.right}" y2="${num(y(t))}" stroke="#eeeeee"/>`,
    );
    out.push(text(MARGIN.left - 6, y(t) + 4, fmt(t), { anchor: 'end' }));
  }
  out.push(text((MARGIN.left + WIDTH - MARGIN.right) / 2, bottom + 32, xLabel, { anchor: 'middle' }));
  out.push(
    `<text transform="translate(16 ${num(panel.y + panel.height / 2)}) rotate(-90)" text-anchor="middle">${escapeXml(yLabel)}</text>`,
  );
  return out;
}

function marker(
  x: Scale,
  panel: { y: number; height: number },
  current: number,
  recommended: number | null,
  labels: 'top' | 'bottom' = 'top',
) {
  const at = (t: number, colour: string, label: string, dash: string | null, dy: number) => [
    `<line x1="${num(x(t))}" y1="${panel.y}" x2="${num(x(t))}" y2="${panel.y + panel.height}" stroke="${colour}" stroke-width="1.5"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`,
    text(x(t) + 4, labels === 'top' ? panel.y + 12 + dy : panel.y + panel.height - 6 - dy, label, {
      fill: colour,
    }),
  ];
  return [
    ...at(current, colours.current, `current ${current}`, '5 3', 0),
    ...(recommended === null
      ? []
      : at(recommended, colours.recommended, `recommended ${recommended}`, null, 14)),
  ];
}

function hline(x: Scale, yPos: number, colour: string, label: string) {
  return [
    `<line x1="${MARGIN.left}" y1="${num(yPos)}" x2="${WIDTH - MARGIN.right}" y2="${num(yPos)}" stroke="${colour}" stroke-dasharray="6 3"/>`,
    text(x(0.01), yPos - 4, label, { fill: colour }),
  ].join('\n');
}

function legend() {
  const y = HEIGHT - 14;
  const items: [string, string][] = [
    [colours.estimate, 'correct among outputs ≥ t'],
    [colours.band, 'its 1 − δ lower bound'],
    [colours.bands, 'one confidence band'],
    [colours.share, 'share reviewed'],
  ];
  let xPos = MARGIN.left;
  return items.flatMap(([colour, label]) => {
    const out = [
      `<rect x="${xPos}" y="${y - 9}" width="12" height="10" fill="${colour}"/>`,
      text(xPos + 16, y, label, {}),
    ];
    xPos += 26 + label.length * 5.6;
    return out;
  });
}

function path(
  d: string,
  s: { stroke?: string; fill?: string; width?: number; dash?: string; opacity?: number },
) {
  return `<path d="${d}" fill="${s.fill ?? 'none'}"${s.stroke ? ` stroke="${s.stroke}"` : ''}${s.width ? ` stroke-width="${s.width}"` : ''}${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}${s.opacity !== undefined ? ` fill-opacity="${s.opacity}"` : ''}/>`;
}

function text(
  xPos: number,
  yPos: number,
  content: string,
  s: { size?: number; weight?: string; fill?: string; anchor?: 'start' | 'middle' | 'end' },
) {
  return `<text x="${num(xPos)}" y="${num(yPos)}"${s.size ? ` font-size="${s.size}"` : ''}${s.weight ? ` font-weight="${s.weight}"` : ''}${s.fill ? ` fill="${s.fill}"` : ''}${s.anchor && s.anchor !== 'start' ? ` text-anchor="${s.anchor}"` : ''}>${escapeXml(content)}</text>`;
}

/** Group keys come from the audit trail; they are escaped like any text put into markup. */
function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const num = (v: number) => (Math.round(v * 10) / 10).toString();
const fmt = (v: number) => String(Math.round(v * 1000) / 1000);
const pct = (v: number) => `${Math.round(v * 1000) / 10} %`;
