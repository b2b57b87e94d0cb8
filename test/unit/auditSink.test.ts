import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAuditEntryTooLargeError } from '../../functions/src/adapters/audit/auditLogEntry.js';
import { LoggingAuditSink } from '../../functions/src/adapters/audit/loggingAuditSink.js';
import { verifyChains } from '../../functions/src/core/audit/chainVerifier.js';
import type { AuditEvent } from '../../functions/src/core/audit/events.js';
import { chain, decisionWith, devChainKeys, draft } from '../support/auditEvents.js';

describe('LoggingAuditSink', () => {
  const setup = () => {
    const lines: string[] = [];
    const file = join(mkdtempSync(join(tmpdir(), 'audit-sink-')), 'nested', 'audit.jsonl');
    const sink = new LoggingAuditSink({
      project: 'hospital-prod',
      toStdout: true,
      file,
      write: (l) => lines.push(l),
    });
    return { lines, file, sink };
  };

  it('writes one Cloud Logging entry and one file line per event, carrying the same event text', async () => {
    const { lines, file, sink } = setup();
    const events = chain(
      draft({ trace: '0af7651916cd43dd8448eb211c80319c' }),
      draft({ eventType: 'inference.replayed' }),
    );
    for (const e of events) await sink.write(e);
    const fileLines = readFileSync(file, 'utf8').trimEnd().split('\n');
    assert.equal(lines.length, 2);
    const entry = JSON.parse(lines[0]!);
    assert.equal(entry.audit_event, fileLines[0]);
    assert.deepEqual(
      [
        entry.severity,
        entry.time,
        entry['logging.googleapis.com/insertId'],
        entry['logging.googleapis.com/trace'],
      ],
      [
        'NOTICE',
        events[0]!.timestamp,
        events[0]!.eventId,
        'projects/hospital-prod/traces/0af7651916cd43dd8448eb211c80319c',
      ],
    );
    assert.deepEqual(entry['logging.googleapis.com/labels'], {
      audit_stream: 'clinical-ai-gateway-audit',
      event_type: 'inference.completed',
    });
    // What was written verifies: the bytes the hash covers are the bytes stored.
    const report = await verifyChains(
      fileLines.map((l, i) => ({ ok: true, event: JSON.parse(l), origin: `line ${i + 1}` })),
      devChainKeys,
    );
    assert.deepEqual(report.problems, []);
  });

  it('refuses an event that does not match the schema, writing nothing', async () => {
    const { lines, sink } = setup();
    const [event] = chain(draft());
    await assert.rejects(sink.write({ ...event!, eventType: 'inference.guessed' } as unknown as AuditEvent));
    assert.equal(lines.length, 0);
  });

  it('refuses an entry Cloud Logging would reject, after keeping it in the local file', async () => {
    const { lines, file, sink } = setup();
    const [event] = chain(draft({ decision: decisionWith({ response: 'x'.repeat(300 * 1024) }) }));
    await assert.rejects(sink.write(event!), isAuditEntryTooLargeError);
    assert.equal(lines.length, 0);
    assert.ok(readFileSync(file, 'utf8').includes(event!.eventId));
  });

  it('keeps every event of a burst, one whole line each, in the order written', async () => {
    const { file, sink } = setup();
    const events = Array.from({ length: 300 }, () => chain(draft())[0]!);
    await Promise.all(events.map((e) => sink.write(e)));
    await sink.close();
    const ids = readFileSync(file, 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => (JSON.parse(l) as AuditEvent).eventId);
    assert.deepEqual(
      ids,
      events.map((e) => e.eventId),
    );
  });

  it('refuses an event while the file cannot be opened, and opens it once it can', async () => {
    const root = mkdtempSync(join(tmpdir(), 'audit-sink-'));
    // The file's directory is, for now, a regular file: mkdir and open fail.
    writeFileSync(join(root, 'nested'), 'not a directory');
    const file = join(root, 'nested', 'audit.jsonl');
    const sink = new LoggingAuditSink({ project: 'p', toStdout: false, file });
    const [first, second] = chain(draft(), draft());
    await assert.rejects(sink.write(first!));
    rmSync(join(root, 'nested'));
    await sink.write(second!);
    await sink.close();
    assert.equal((JSON.parse(readFileSync(file, 'utf8')) as AuditEvent).eventId, second!.eventId);
  });
});
