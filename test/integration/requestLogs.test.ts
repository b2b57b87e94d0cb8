import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { manualClock, startModelServers, uniqueTenant } from '../support/gatewayHarness.js';
import {
  eventarcDelivery,
  type ReviewHarness,
  startReviewHarness,
  submit,
} from '../support/reviewHarness.js';

type Models = Awaited<ReturnType<typeof startModelServers>>;

const hex = (bytes: number) =>
  randomUUID()
    .replaceAll('-', '')
    .repeat(2)
    .slice(0, bytes * 2);

/**
 * Request logs join audit events: the lines a request (or a delivery, or a job) writes carry the trace its
 * audit event records, as the `projects/<project>/traces/<id>` resource name Cloud Logging links on, with
 * the span and the labels (service, tenant). Through the Functions Framework, against the emulators.
 */
describe('request logs join audit events (trace, span, labels; emulators)', () => {
  let models: Models;
  let h: ReviewHarness;
  const tenant = uniqueTenant();
  // A day of its own, so that no other test's local tasks are due on this clock.
  const clock = manualClock(new Date('2025-03-04T07:00:00Z'));

  before(async () => {
    models = await startModelServers();
    await models.a.setBehaviour({ confidence: 0.4 });
    // No topics: the review requests stay in the outbox, and this test delivers them by hand.
    h = await startReviewHarness({
      models,
      clock: clock.now,
      topology: false,
      env: { REVIEW_PUBLISH_TIMEOUT_MS: '200' },
    });
  });
  after(async () => {
    await h.close();
    await models.close();
  });

  const linesWith = (text: string) =>
    h.logLines.filter((l) => l.includes(text)).map((l) => JSON.parse(l) as Record<string, unknown>);
  const auditOf = (inferenceId: string, eventType: string) =>
    h.audit.filter((e) => e.inferenceId === inferenceId && e.eventType === eventType);

  it('a review intake delivery and a deadline job: their lines carry the trace their audit events record', async () => {
    const inferenceTrace = hex(16);
    const res = await submit(h, tenant).set('traceparent', `00-${inferenceTrace}-${hex(8)}-01`);
    assert.equal(res.status, 202);
    const inferenceId = res.body.id as string;
    const reviewId = `rev_${inferenceId.slice(4)}`;
    assert.equal(auditOf(inferenceId, 'inference.routed_to_review')[0]?.trace, inferenceTrace);

    // The intake: Eventarc's binary-mode CloudEvent, with the delivery's trace as its traceparent attribute.
    const deliveryTrace = hex(16);
    const deliverySpan = hex(8);
    const delivered = await eventarcDelivery(h, {
      inferenceId,
      tenant,
      traceparent: `00-${deliveryTrace}-${deliverySpan}-01`,
    });
    assert.equal(delivered.status, 204);
    const [enqueued] = auditOf(inferenceId, 'review.enqueued');
    assert.equal(enqueued?.trace, deliveryTrace);
    const [takenIn] = linesWith(inferenceId).filter((l) => l.message === 'review request taken in');
    assert.ok(takenIn, 'the intake logs the delivery');
    assert.equal(
      takenIn['logging.googleapis.com/trace'],
      `projects/${h.config.project}/traces/${enqueued.trace}`,
    );
    assert.equal(takenIn['logging.googleapis.com/spanId'], deliverySpan);
    assert.deepEqual(takenIn['logging.googleapis.com/labels'], { service: 'reviewIntake', tenant });

    // The deadline job: Cloud Tasks' request, with Google's trace header (the span in decimal).
    clock.advance(241 * 60_000);
    const jobTrace = hex(16);
    const checked = await h.jobs
      .post('/tasks/review-deadline')
      .set('Authorization', h.serviceToken())
      .set('Content-Type', 'application/json')
      .set('X-Cloud-Trace-Context', `${jobTrace}/4096;o=1`)
      .send({ reviewId });
    assert.equal(checked.status, 200);
    assert.equal(checked.body.outcome, 'escalated');
    const [escalated] = auditOf(inferenceId, 'review.escalated');
    assert.equal(escalated?.trace, jobTrace);
    const [jobLine] = linesWith(reviewId).filter((l) => l.message === 'review deadline checked');
    assert.ok(jobLine, 'the job logs the check');
    assert.equal(
      jobLine['logging.googleapis.com/trace'],
      `projects/${h.config.project}/traces/${escalated.trace}`,
    );
    assert.equal(jobLine['logging.googleapis.com/spanId'], '0000000000001000');
    assert.deepEqual(jobLine['logging.googleapis.com/labels'], { service: 'reviewJobs' });
  });

  it('a delivery without a trace: no trace on its lines, none on its audit event', async () => {
    const res = await submit(h, tenant);
    const inferenceId = res.body.id as string;
    const delivered = await eventarcDelivery(h, { inferenceId, tenant });
    assert.equal(delivered.status, 204);
    assert.equal(auditOf(inferenceId, 'review.enqueued')[0]?.trace, null);
    const [takenIn] = linesWith(inferenceId).filter((l) => l.message === 'review request taken in');
    assert.ok(takenIn);
    assert.equal('logging.googleapis.com/trace' in takenIn, false);
    assert.deepEqual(takenIn['logging.googleapis.com/labels'], { service: 'reviewIntake', tenant });
  });
});
