import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalAuditEventSource } from '../../functions/src/adapters/audit/localAuditEventSource.js';
import { type CliContext, EXIT, runAuditCli } from '../../functions/src/cli/auditCli.js';
import { loadAuditCliConfig } from '../../functions/src/cli/auditCliConfig.js';
import type { CalibrationReport } from '../../functions/src/cli/calibrationReport.js';
import { medicationNote, uniqueTenant } from '../support/gatewayHarness.js';
import { reviewerOf, submit, useReviewStack } from '../support/reviewHarness.js';

/**
 * Calibration end to end: the review pipeline (the four functions, the Pub/Sub and Firestore emulators, the
 * local model servers) with a high review sample rate; 300 inferences whose model-server confidence is
 * spread over (0, 1); a scripted reviewer deciding every review item through the reviewer API, editing or
 * rejecting more often at low confidence; then `audit:calibrate` over the audit events of the run.
 */

const OUTPUTS = 300;
const SAMPLE_RATE = '0.7';
const target = { alpha: 0.05, delta: 0.05 };

/**
 * The scripted reviewer: below 0.4 three outputs in five are wrong, in [0.4, 0.6) one in four, none above.
 * Deterministic per output, so the run's true error curve is known exactly.
 */
function isWrong(confidence: number, index: number): boolean {
  if (confidence < 0.4) return index % 5 < 3;
  if (confidence < 0.6) return index % 4 === 0;
  return false;
}

describe('calibration end to end: scripted reviews through the API, then audit:calibrate', function () {
  this.timeout(300_000);
  let tenant: string;
  const started = new Date();
  /** Every inference of the run: its confidence and whether the scripted reviewer finds it wrong. */
  const outputs = new Map<string, { confidence: number; wrong: boolean; reviewed: boolean }>();

  const { models, h } = useReviewStack({ env: { REVIEW_SAMPLE_RATE: SAMPLE_RATE } });
  before(async () => {
    tenant = uniqueTenant();

    for (let i = 0; i < OUTPUTS; i++) {
      // Spread over (0.05, 0.99), in an order that mixes low and high confidences.
      const confidence = Math.round((0.05 + (0.94 * ((i * 37) % OUTPUTS)) / OUTPUTS) * 1000) / 1000;
      await models.a.setBehaviour({ confidence });
      const res = await submit(h, tenant, { input: { text: medicationNote } });
      assert.ok(res.status === 200 || res.status === 202, `inference ${i}: ${res.status}`);
      assert.equal(res.body.confidence, confidence);
      const reviewed = res.status === 202 || res.body.review?.state === 'pending';
      outputs.set(res.body.id, { confidence, wrong: isWrong(confidence, i), reviewed });
    }
    await models.a.setBehaviour({ confidence: null });
    await Promise.all([...outputs].filter(([, o]) => o.reviewed).map(([id]) => h.takenIn(id)));

    // The reviewer works the queue until it is empty, a few items at a time.
    for (;;) {
      const list = await h.reviewer
        .get('/v1/reviews?state=pending&limit=50')
        .set('Authorization', reviewerOf(tenant));
      assert.equal(list.status, 200);
      const items = list.body.items as { id: string; inferenceId: string; output: unknown }[];
      if (items.length === 0) break;
      await Promise.all(
        items.map(async (item, j) => {
          const claim = await h.reviewer
            .post(`/v1/reviews/${item.id}/claim`)
            .set('Authorization', reviewerOf(tenant));
          assert.equal(claim.status, 200);
          const wrong = outputs.get(item.inferenceId)?.wrong;
          assert.notEqual(wrong, undefined, 'a review item of this run');
          const decision = !wrong
            ? { action: 'approve' }
            : j % 2 === 0
              ? { action: 'reject', reasonCode: 'incorrect' }
              : { action: 'edit', output: item.output, reasonCode: 'incomplete' };
          const decided = await h.reviewer
            .post(`/v1/reviews/${item.id}/decision`)
            .set('Authorization', reviewerOf(tenant))
            .set('Content-Type', 'application/json')
            .send(JSON.stringify(decision));
          assert.equal(decided.status, 200, JSON.stringify(decided.body));
        }),
      );
    }
  });

  it('recommends a threshold in the expected range, whose true error rate meets the target', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'calibration-e2e-')), 'audit.jsonl');
    const mine = h.audit.filter((e) => e.tenant === tenant);
    writeFileSync(file, `${mine.map((e) => JSON.stringify(e)).join('\n')}\n`);
    const chart = join(file, '..', 'calibration.svg');
    const out: string[] = [];
    const ctx: CliContext = {
      config: loadAuditCliConfig({ AUDIT_BACKEND: 'local', AUDIT_LOG_FILE: file }),
      source: new LocalAuditEventSource(file),
      openLedger: () => {
        throw new Error('calibrate needs no ledger');
      },
      now: Date.now,
      io: { out: (l) => out.push(l), err: () => undefined },
    };
    const code = await runAuditCli(
      [
        'calibrate',
        '--task',
        'medication-extraction',
        '--from',
        new Date(started.getTime() - 60_000).toISOString(),
        '--alpha',
        String(target.alpha),
        '--delta',
        String(target.delta),
        '--chart',
        chart,
        '--json',
      ],
      ctx,
    );
    const report = JSON.parse(out.join('\n')) as CalibrationReport;
    assert.equal(code, EXIT.ok, out.join('\n'));
    assert.equal(report.groups.length, 1);
    const g = report.groups[0]!;
    assert.equal(g.outputs, OUTPUTS);
    assert.equal(g.undecided, 0);
    assert.equal(g.currentThreshold, 0.8);
    assert.equal(g.reviewed, [...outputs.values()].filter((o) => o.reviewed).length);
    // The sampled share seen in the audit trail is the configured rate, give or take chance.
    assert.ok(Math.abs(g.sampleRate - Number(SAMPLE_RATE)) < 0.2, `sample rate ${g.sampleRate}`);

    assert.equal(g.recommendation.kind, 'threshold');
    if (g.recommendation.kind !== 'threshold') return;
    const t = g.recommendation.threshold;
    // Clean from 0.6 up, a quarter wrong just below: the bound lets the threshold reach a little under 0.6,
    // never into the errors at 0.4, and well under the 0.8 in force.
    assert.ok(t >= 0.45 && t <= 0.65, `recommended ${t}`);
    const above = [...outputs.values()].filter((o) => o.confidence >= t);
    const trueRate = above.filter((o) => o.wrong).length / above.length;
    assert.ok(trueRate <= target.alpha, `true error rate above ${t}: ${trueRate}`);
    assert.ok(g.recommendation.reviewShare < (g.current?.reviewShare ?? 0));
    assert.match(readFileSync(chart, 'utf8'), new RegExp(`recommended ${t}<`));
  });
});
