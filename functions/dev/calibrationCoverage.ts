import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import jstat from 'jstat';
import { type StratumCounts, weightedBound } from '../src/core/audit/calibration.js';
import { seededRandom } from './seededRandom.js';

/**
 * How often the calibration bound covers the true error rate, against the other common choice
 * (Clopper–Pearson on Kish's effective counts), by simulation: docs/calibration.md quotes its output.
 *
 *   npx tsx functions/dev/calibrationCoverage.ts [--runs 1500] [--seed 42]
 *
 * Each run draws N outputs (confidence C, error with probability q(C)), reviews every one below the
 * threshold in force (0.8) and a share π of the others, and checks both bounds at several candidate
 * thresholds against the true rate E[q(C) | C ≥ t].
 */

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '1500' }, seed: { type: 'string', default: '42' } },
});
const runs = Number(values.runs);
const delta = 0.05;
const threshold = 0.8;

type Scenario = { name: string; n: number; pi: number; q: (c: number) => number };
const confidence = (u: number) => u ** 0.4;
const scenarios: Scenario[] = [
  { name: 'errors fall with confidence', n: 6000, pi: 0.3, q: (c) => 0.3 * (1 - c) ** 1.5 },
  { name: 'errors hide above the threshold', n: 6000, pi: 0.1, q: (c) => (c >= 0.8 ? 0.03 : 0.003) },
];
const checked = [0.5, 0.6, 0.7, 0.8, 0.9];

function truth(q: (c: number) => number, t: number): number {
  const steps = 200_000;
  let n = 0;
  let errors = 0;
  for (let i = 0; i < steps; i++) {
    const c = confidence((i + 0.5) / steps);
    if (c >= t) {
      n++;
      errors += q(c);
    }
  }
  return errors / n;
}

function kishClopperPearson(counts: StratumCounts): number {
  const { estimate, effectiveSampleSize: n } = weightedBound(counts, delta);
  const x = estimate * n;
  return x >= n ? 1 : jstat.jStat.beta.inv(1 - delta, x + 1, n - x);
}

console.log(
  `calibration bound coverage, ${runs} runs per scenario, seed ${values.seed}, δ = ${delta}, threshold in force ${threshold}; node ${process.version}, ${cpus()[0]?.model ?? 'cpu'}`,
);
for (const s of scenarios) {
  const next = seededRandom(Number(values.seed));
  const truths = checked.map((t) => truth(s.q, t));
  const covered = { fayFeuer: checked.map(() => 0), kish: checked.map(() => 0) };
  const width = { fayFeuer: checked.map(() => 0), kish: checked.map(() => 0) };
  for (let run = 0; run < runs; run++) {
    const outputs = Array.from({ length: s.n }, () => {
      const c = confidence(next());
      const wrong = next() < s.q(c);
      const review = c < threshold ? 'census' : next() < s.pi ? 'sampled' : 'none';
      return { c, wrong, review };
    });
    checked.forEach((t, j) => {
      const counts: StratumCounts = { census: 0, censusErrors: 0, eligible: 0, sampled: 0, sampledErrors: 0 };
      for (const o of outputs) {
        if (o.c < t) continue;
        if (o.review === 'census') {
          counts.census++;
          if (o.wrong) counts.censusErrors++;
        } else {
          counts.eligible++;
          if (o.review === 'sampled') {
            counts.sampled++;
            if (o.wrong) counts.sampledErrors++;
          }
        }
      }
      const ff = weightedBound(counts, delta).upper;
      const kish = kishClopperPearson(counts);
      if (ff >= truths[j]!) covered.fayFeuer[j]!++;
      if (kish >= truths[j]!) covered.kish[j]!++;
      width.fayFeuer[j]! += ff / runs;
      width.kish[j]! += kish / runs;
    });
  }
  console.log(`\n${s.name} (N = ${s.n}, π = ${s.pi})`);
  console.log('  t     true rate  coverage FF  coverage Kish-CP  mean bound FF  mean bound Kish-CP');
  checked.forEach((t, j) => {
    console.log(
      `  ${t.toFixed(2)}  ${pct(truths[j]!).padEnd(9)}  ${(covered.fayFeuer[j]! / runs).toFixed(3).padEnd(11)}  ${(covered.kish[j]! / runs).toFixed(3).padEnd(16)}  ${pct(width.fayFeuer[j]!).padEnd(13)}  ${pct(width.kish[j]!)}`,
    );
  });
}

function pct(v: number): string {
  return `${(v * 100).toFixed(2)}%`;
}
