import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AUDIT_EVENT_KEY, AUDIT_INDEX_KEY } from '../../functions/src/adapters/audit/auditLogEntry.js';
import { LocalAuditEventSource } from '../../functions/src/adapters/audit/localAuditEventSource.js';
import { collections } from '../../functions/src/adapters/firestore/firestoreClient.js';
import { FirestoreDecisionLedger } from '../../functions/src/adapters/firestore/firestoreDecisionLedger.js';
import { type CliContext, EXIT, isUsageError, runAuditCli } from '../../functions/src/cli/auditCli.js';
import { loadAuditCliConfig } from '../../functions/src/cli/auditCliConfig.js';
import { hmacHex } from '../../functions/src/core/audit/chain.js';
import { verifyChains } from '../../functions/src/core/audit/chainVerifier.js';
import { checkCompleteness } from '../../functions/src/core/audit/completeness.js';
import { AUDIT_LABEL, type AuditEvent, auditEventSchema } from '../../functions/src/core/audit/events.js';
import { buildPrompt, PROMPT_TEMPLATE_VERSION } from '../../functions/src/core/tasks.js';
import { devChainKeys } from '../support/auditEvents.js';
import { bearer, uniqueTenant, useGatewayStack } from '../support/gatewayHarness.js';

/**
 * The audit trail of the inference flow, end to end: the real handlers in the Functions Framework, the
 * Firestore emulator, two local model servers, the structured log lines the gateway writes (captured) and
 * the local audit file. Every path produces exactly its events, before its answer; no operational line and
 * no audit field outside `decision.response` carries clinical text, and no line carries a raw key; and the
 * audit commands find what is there and what is missing.
 */

/** A note with a token no model output could invent: its presence anywhere means the input leaked. */
const canary = `zq${randomUUID().replaceAll('-', '')}`;
const note = `Patient ${canary} takes metformin 500 mg PO BID and lisinopril 10 mg daily. Started atorvastatin 40 mg qhs. Denies chest pain.`;
const patientRef = `mrn-${randomUUID()}`;
const encounterRef = `enc-${randomUUID()}`;
const traceId = randomUUID().replaceAll('-', '');

const isAuditLine = (line: Record<string, unknown>) =>
  (line['logging.googleapis.com/labels'] as Record<string, string> | undefined)?.[AUDIT_LABEL.key] ===
  AUDIT_LABEL.value;

describe('audit trail of the inference flow (Firestore emulator, local model servers)', () => {
  let tenant: string;
  let auditFile: string;
  const keys: string[] = [];
  const started = new Date();

  const newKey = () => {
    const key = `audit-test-${randomUUID()}`;
    keys.push(key);
    return key;
  };
  const post = (payload: unknown, key = newKey(), headers: Record<string, string> = {}) => {
    const req = gw.api
      .post('/v1/inferences')
      .set('Authorization', bearer(tenant, 'clinician', 'alice'))
      .set('Content-Type', 'application/json')
      .set('Idempotency-Key', key);
    for (const [name, value] of Object.entries(headers)) req.set(name, value);
    return req.send(JSON.stringify(payload));
  };
  const body = (task = 'medication-extraction', extra: Record<string, unknown> = {}) => ({
    task,
    input: { text: note },
    patientRef,
    encounterRef,
    ...extra,
  });

  /** Every audit event logged so far, as the log sink would carry it (the event's own JSON text). */
  const auditEvents = (): AuditEvent[] =>
    gw.logLines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter(isAuditLine)
      .map((l) => JSON.parse(String(l[AUDIT_EVENT_KEY])) as AuditEvent);
  const eventsOf = (inferenceId: string) =>
    auditEvents()
      .filter((e) => e.inferenceId === inferenceId)
      .map((e) => [e.eventType, e.sequence, e.prevHash === null ? null : 'linked']);

  const { models, gw } = useGatewayStack({
    env: () => {
      auditFile = join(mkdtempSync(join(tmpdir(), 'audit-trail-')), 'audit.jsonl');
      return { AUDIT_LOG_FILE: auditFile };
    },
  });
  before(async () => {
    tenant = uniqueTenant();
  });

  describe('every path produces exactly its events, each valid, written before the answer', () => {
    it('200 completed: inference.completed, first of its chain, with everything an auditor needs', async () => {
      const res = await post(body(), newKey(), { traceparent: `00-${traceId}-00f067aa0ba902b7-01` });
      assert.equal(res.status, 200);
      // The answer has arrived: the event must already be written, to the log and to the file.
      assert.deepEqual(eventsOf(res.body.id), [['inference.completed', 1, null]]);
      const event = auditEvents().find((e) => e.inferenceId === res.body.id)!;
      assert.ok(readFileSync(auditFile, 'utf8').includes(event.eventId));
      const prompt = buildPrompt('medication-extraction', note);
      assert.deepEqual(
        {
          tenant: event.tenant,
          actor: event.actor,
          patientRef: event.patientRef,
          encounterRef: event.encounterRef,
          task: event.task,
          trace: event.trace,
          gatewayVersion: event.gatewayVersion,
        },
        {
          tenant,
          actor: { subject: 'alice', tenant, role: 'clinician' },
          patientRef,
          encounterRef,
          task: 'medication-extraction',
          trace: traceId,
          gatewayVersion: gw.config.version,
        },
      );
      const d = event.decision!;
      assert.deepEqual(
        [
          d.status,
          d.httpStatus,
          d.provider,
          d.model,
          d.confidence,
          d.threshold,
          d.scorerVersion,
          d.promptTemplateVersion,
        ],
        [
          'completed',
          200,
          'local-a',
          'local-clinical-1',
          res.body.confidence,
          0.8,
          'geomean-logprob-v1',
          PROMPT_TEMPLATE_VERSION,
        ],
      );
      assert.deepEqual(d.response, res.body.output);
      assert.equal(
        d.promptHash,
        hmacHex(gw.config.audit.hmacKey, PROMPT_TEMPLATE_VERSION, prompt.system, prompt.user),
      );
      assert.deepEqual(
        d.routing?.attempts.map((a) => [a.provider, a.outcome]),
        [['local-a', 'success']],
      );
      const doc = await gw.gateway.firestore.collection(collections.inferences).doc(res.body.id).get();
      assert.deepEqual(doc.get('auditHead'), { sequence: 1, hash: event.hash, eventId: event.eventId });
    });

    it('202 pending review: inference.routed_to_review, with the proposal the reviewer will see', async () => {
      await models.a.setBehaviour({ confidence: 0.5 });
      const res = await post(body());
      assert.equal(res.status, 202);
      assert.deepEqual(
        eventsOf(res.body.id).filter(([type]) => String(type).startsWith('inference.')),
        [['inference.routed_to_review', 1, null]],
      );
      const event = auditEvents().find(
        (e) => e.eventType === 'inference.routed_to_review' && e.inferenceId === res.body.id,
      )!;
      assert.equal(event.decision?.status, 'pending_review');
      assert.equal(event.decision?.confidence, 0.5);
      assert.ok(event.decision?.response, 'the proposal is audited although the caller does not see it');
    });

    it('503 all providers failing: one inference.failed per attempt, each a chain of one', async () => {
      await models.a.setBehaviour({ failRate: 1 });
      await models.b.setBehaviour({ failRate: 1 });
      const key = newKey();
      const before = auditEvents().length;
      assert.equal((await post(body(), key)).status, 503);
      assert.equal((await post(body(), key)).status, 503);
      const failed = auditEvents().slice(before);
      assert.deepEqual(
        failed.map((e) => [e.eventType, e.sequence, e.decision?.failureReason]),
        [
          ['inference.failed', 1, 'providers_unavailable'],
          ['inference.failed', 1, 'providers_unavailable'],
        ],
      );
      assert.notEqual(failed[0]!.inferenceId, failed[1]!.inferenceId);
      assert.deepEqual(
        failed[0]!.decision?.routing?.attempts.map((a) => [a.provider, a.outcome]),
        [
          ['local-a', 'failure'],
          ['local-b', 'failure'],
        ],
      );
      assert.equal(failed[0]!.decision?.routing?.fallbackTaken, true);
    });

    it('replay: inference.replayed, outside the chain, naming who received the stored answer', async () => {
      const key = newKey();
      const first = await post(body(), key);
      const replay = await gw.api
        .post('/v1/inferences')
        .set('Authorization', bearer(tenant, 'clinician', 'erin'))
        .set('Content-Type', 'application/json')
        .set('Idempotency-Key', key)
        .send(JSON.stringify(body()));
      assert.equal(replay.headers['idempotent-replayed'], 'true');
      assert.deepEqual(eventsOf(first.body.id), [
        ['inference.completed', 1, null],
        ['inference.replayed', null, null],
      ]);
      const replayed = auditEvents().find(
        (e) => e.eventType === 'inference.replayed' && e.inferenceId === first.body.id,
      )!;
      assert.deepEqual(
        [
          replayed.actor.subject,
          replayed.decision?.httpStatus,
          replayed.decision?.response,
          replayed.patientRef,
        ],
        ['erin', 200, null, patientRef],
      );
      // The chain, and the head the ledger holds, still end at the decision.
      const completed = auditEvents().find(
        (e) => e.eventType === 'inference.completed' && e.inferenceId === first.body.id,
      )!;
      const doc = await gw.gateway.firestore.collection(collections.inferences).doc(first.body.id).get();
      assert.deepEqual(doc.get('auditHead'), {
        sequence: 1,
        hash: completed.hash,
        eventId: completed.eventId,
      });
    });

    it('read: GET of an inference writes inference.viewed, outside the chain', async () => {
      const created = await post(body());
      const read = await gw.api
        .get(`/v1/inferences/${created.body.id}`)
        .set('Authorization', bearer(tenant, 'clinician', 'carol'));
      assert.equal(read.status, 200);
      assert.deepEqual(eventsOf(created.body.id), [
        ['inference.completed', 1, null],
        ['inference.viewed', null, null],
      ]);
      const viewed = auditEvents().find(
        (e) => e.eventType === 'inference.viewed' && e.inferenceId === created.body.id,
      )!;
      assert.deepEqual([viewed.actor.subject, viewed.decision?.status], ['carol', 'completed']);
    });

    it('400, 401, 404, 415 and 422 write no audit event', async () => {
      const before = auditEvents().length;
      const key = newKey();
      assert.equal((await post(body(), key)).status, 200);
      const afterFirst = auditEvents().length;
      assert.equal((await post({ ...body(), input: { text: note, extra: canary } })).status, 400);
      assert.equal(
        (await post(body('medication-extraction', { patientRef: `${patientRef}-other` }), key)).status,
        422,
      );
      const unauthenticated = await gw.api
        .post('/v1/inferences')
        .set('Content-Type', 'application/json')
        .send(body());
      assert.equal(unauthenticated.status, 401);
      const wrongType = await gw.api
        .post('/v1/inferences')
        .set('Authorization', bearer(tenant, 'clinician', 'alice'))
        .set('Idempotency-Key', newKey())
        .set('Content-Type', 'text/plain')
        .send(note);
      assert.equal(wrongType.status, 415);
      const missing = await gw.api
        .get('/v1/inferences/inf_none')
        .set('Authorization', bearer(tenant, 'clinician', 'alice'));
      assert.equal(missing.status, 404);
      assert.equal(afterFirst - before, 1);
      assert.equal(auditEvents().length, afterFirst);
    });

    it('clinical-summary: the summary (input sentences) is audited as the response, and only there', async () => {
      const res = await post(body('clinical-summary'));
      assert.equal(res.status, 200);
      const event = auditEvents().find((e) => e.inferenceId === res.body.id)!;
      assert.match(JSON.stringify(event.decision?.response), new RegExp(canary));
    });
  });

  describe('log hygiene: every line the runs above produced', () => {
    const leaks = (text: string) => {
      const found: string[] = [];
      if (text.includes(canary)) found.push('input text');
      if (text.includes('Denies chest pain')) found.push('input text');
      for (const drug of ['metformin', 'lisinopril', 'atorvastatin'])
        if (text.includes(drug)) found.push(`output (${drug})`);
      for (const key of keys) if (text.includes(key)) found.push('raw Idempotency-Key');
      return found;
    };

    it('ran every path first', () => {
      assert.ok(auditEvents().length >= 10);
      assert.ok(
        gw.logLines.some((l) => !isAuditLine(JSON.parse(l))),
        'some operational lines were written',
      );
    });

    it('no operational line carries clinical text, model output, patient references or a raw key', () => {
      for (const raw of gw.logLines) {
        const line = JSON.parse(raw) as Record<string, unknown>;
        if (isAuditLine(line)) continue;
        assert.deepEqual(leaks(raw), [], `operational line leaks: ${raw.slice(0, 200)}`);
        assert.ok(
          !raw.includes(patientRef) && !raw.includes(encounterRef),
          'operational line carries a patient reference',
        );
      }
    });

    it('every audit line is valid, and carries clinical content only in decision.response, never the input', () => {
      for (const raw of gw.logLines) {
        const line = JSON.parse(raw) as Record<string, unknown>;
        if (!isAuditLine(line)) continue;
        const event = JSON.parse(String(line[AUDIT_EVENT_KEY])) as AuditEvent;
        auditEventSchema.parse(event);
        assert.equal(line.severity, 'NOTICE');
        assert.deepEqual(
          leaks(JSON.stringify(line[AUDIT_INDEX_KEY])),
          [],
          'the index carries clinical content',
        );
        const withoutResponse = {
          ...event,
          decision: event.decision && { ...event.decision, response: null },
        };
        const rest = JSON.stringify({
          ...line,
          [AUDIT_EVENT_KEY]: null,
          [AUDIT_INDEX_KEY]: null,
          event: withoutResponse,
        });
        assert.deepEqual(
          leaks(rest),
          [],
          `${event.eventType} carries clinical content outside decision.response`,
        );
      }
    });
  });

  describe('the audit commands on this run', () => {
    const cli = async (argv: string[], file = auditFile) => {
      const out: string[] = [];
      const firestore = gw.gateway.firestore;
      const ctx: CliContext = {
        config: loadAuditCliConfig({ AUDIT_BACKEND: 'local', AUDIT_LOG_FILE: file }),
        source: new LocalAuditEventSource(file),
        openLedger: () => ({ ledger: new FirestoreDecisionLedger(firestore, 3), close: async () => {} }),
        now: Date.now,
        io: { out: (l) => out.push(l), err: (l) => out.push(l) },
      };
      return { code: await runAuditCli(argv, ctx), out: out.join('\n') };
    };
    const window = () => [
      '--from',
      new Date(started.getTime() - 60_000).toISOString(),
      '--to',
      new Date(Date.now() + 60_000).toISOString(),
    ];

    it('verify: every chain in the file is intact', async () => {
      const report = await verifyChains(
        new LocalAuditEventSource(auditFile).chains({ kind: 'all' }),
        devChainKeys,
      );
      assert.deepEqual(report.problems, []);
      assert.ok(report.chains >= 6);
      const { code, out } = await cli(['verify']);
      assert.equal(code, EXIT.ok, out);
      assert.match(out, /chain intact/);
    });

    it('completeness: every decision of this tenant in the ledger has its events', async () => {
      const ledger = new FirestoreDecisionLedger(gw.gateway.firestore, 3);
      const range = { from: new Date(started.getTime() - 60_000), to: new Date(Date.now() + 60_000) };
      const report = await checkCompleteness(ledger, new LocalAuditEventSource(auditFile), range, { tenant });
      assert.ok(report.decisionsChecked >= 6, `checked ${report.decisionsChecked}`);
      assert.deepEqual(report.incomplete, []);
      const { code, out } = await cli(['completeness', ...window(), '--tenant', tenant]);
      assert.equal(code, EXIT.ok, out);
    });

    it('completeness finds a decision whose audit event is missing', async () => {
      const lines = readFileSync(auditFile, 'utf8').trimEnd().split('\n');
      const events = lines.map((l) => JSON.parse(l) as AuditEvent);
      const victim = events.findIndex((e) => e.eventType === 'inference.completed' && e.tenant === tenant);
      const removed = events[victim]!;
      const tampered = join(mkdtempSync(join(tmpdir(), 'audit-tampered-')), 'audit.jsonl');
      writeFileSync(tampered, `${lines.filter((_, i) => i !== victim).join('\n')}\n`);

      const completeness = await cli(['completeness', ...window(), '--tenant', tenant, '--json'], tampered);
      assert.equal(completeness.code, EXIT.findings);
      const report = JSON.parse(completeness.out) as {
        incomplete: { inferenceId: string; missing: unknown[] }[];
      };
      assert.deepEqual(
        report.incomplete.map((d) => [d.inferenceId, d.missing]),
        [
          [
            removed.inferenceId,
            [
              { kind: 'event', eventType: 'inference.completed' },
              { kind: 'sequence', from: 1, to: 1 },
            ],
          ],
        ],
      );
      // The verifier alone cannot see a chain's only event go; the ledger's head can.
      assert.equal((await cli(['verify'], tampered)).code, EXIT.ok);
    });

    it('verify finds an altered model response in the file', async () => {
      const lines = readFileSync(auditFile, 'utf8').trimEnd().split('\n');
      const victim = lines.findIndex(
        (l) => (JSON.parse(l) as AuditEvent).eventType === 'inference.completed',
      );
      const altered = JSON.parse(lines[victim]!) as AuditEvent;
      altered.decision!.response = { medications: [] };
      lines[victim] = JSON.stringify(altered);
      const tampered = join(mkdtempSync(join(tmpdir(), 'audit-altered-')), 'audit.jsonl');
      writeFileSync(tampered, `${lines.join('\n')}\n`);
      const verify = await cli(['verify'], tampered);
      assert.equal(verify.code, EXIT.findings);
      assert.match(verify.out, new RegExp(`ALTERED +${altered.inferenceId} #1 event ${altered.eventId}`));
    });

    it('provenance: one inference, in order, with who asked, what the model said and who read it', async () => {
      const created = await post(body());
      await gw.api
        .get(`/v1/inferences/${created.body.id}`)
        .set('Authorization', bearer(tenant, 'clinician', 'dave'));
      const { code, out } = await cli(['provenance', '--inference', created.body.id]);
      assert.equal(code, EXIT.ok, out);
      assert.match(out, /#1 +\S+ +inference\.completed +by clinician alice/);
      assert.match(out, /inference\.viewed +by clinician dave/);
      assert.match(out, new RegExp(`patient ${patientRef}`));
      assert.match(out, /response: \{"medications"/);
      assert.match(out, /chain intact/);
    });

    it('bad usage is a UsageError, which the command line turns into a message and exit status 2', async () => {
      await assert.rejects(cli(['completeness', '--from', 'yesterday', '--to', 'today']), isUsageError);
      await assert.rejects(cli(['provenance']), /needs --inference/);
      await assert.rejects(cli(['audit-everything']), /usage: audit </);
    });
  });
});
