import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { AuditEvent } from '../../functions/src/core/audit/events.js';
import {
  bearer,
  medicationNote,
  startModelServers,
  startTestGateway,
  type TestGateway,
  testConfig,
  uniqueTenant,
} from '../support/gatewayHarness.js';

type Models = Awaited<ReturnType<typeof startModelServers>>;

/**
 * A lost audit event never changes the caller's answer, and is never silent: each leaves one ERROR line with
 * `event: "audit_write_failed"`, the field the log-based metric behind the audit-write alert counts
 * (terraform/logging.tf; test/terraform/policy.test.ts checks the filter against the same line).
 */
describe('audit sink failures: the answer stands, and each lost event is counted (emulators)', () => {
  let models: Models;
  let gw: TestGateway;
  let failing = false;
  const written: AuditEvent[] = [];

  before(async () => {
    models = await startModelServers();
    gw = startTestGateway(testConfig(models), {
      audit: {
        write: async (event) => {
          if (failing) throw new Error('the log pipe is closed');
          written.push(event);
        },
      },
    });
  });
  after(async () => {
    await gw.close();
    await models.close();
  });

  const lostEventLines = () =>
    gw.logLines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.event === 'audit_write_failed');

  it('answers the inference and logs the lost event at ERROR, with ids only', async () => {
    const tenant = uniqueTenant();
    failing = true;
    const res = await gw.api
      .post('/v1/inferences')
      .set('Authorization', bearer(tenant, 'clinician', 'alice'))
      .set('Content-Type', 'application/json')
      .set('Idempotency-Key', randomUUID())
      .send({ task: 'medication-extraction', input: { text: medicationNote } });
    failing = false;
    assert.ok(res.status === 200 || res.status === 202, `${res.status} ${JSON.stringify(res.body)}`);
    const lines = lostEventLines().filter((line) => line.inferenceId === res.body.id);
    assert.equal(lines.length, 1, JSON.stringify(lostEventLines()));
    const [line] = lines as [Record<string, unknown>];
    assert.equal(line.severity, 'ERROR');
    assert.equal(line.eventType, res.status === 200 ? 'inference.completed' : 'inference.routed_to_review');
    assert.equal(typeof line.eventId, 'string');
    assert.equal(line.error, 'Error');
    assert.doesNotMatch(JSON.stringify(line), /metformin|log pipe/);
    // The event that was lost is the one the inference's chain head names: audit:completeness finds the gap.
    assert.ok(!written.some((e) => e.eventId === line.eventId));
  });

  it('logs nothing of the kind while the sink works', async () => {
    const before = lostEventLines().length;
    const res = await gw.api
      .post('/v1/inferences')
      .set('Authorization', bearer(uniqueTenant(), 'clinician', 'alice'))
      .set('Content-Type', 'application/json')
      .set('Idempotency-Key', randomUUID())
      .send({ task: 'medication-extraction', input: { text: medicationNote } });
    assert.ok(res.status === 200 || res.status === 202);
    assert.equal(lostEventLines().length, before);
    assert.ok(written.some((e) => e.inferenceId === res.body.id));
  });
});
