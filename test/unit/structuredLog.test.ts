import assert from 'node:assert/strict';
import {
  StructuredLogger,
  type TraceContext,
  type TraceHeaders,
  traceContextOf,
  traceIdOf,
} from '../../functions/src/adapters/logging/structuredLog.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';
/** SPAN in decimal, as X-Cloud-Trace-Context writes it. */
const SPAN_DECIMAL = BigInt(`0x${SPAN}`).toString(10);

describe('trace headers (X-Cloud-Trace-Context, traceparent)', () => {
  const cases: [name: string, headers: TraceHeaders, expected: TraceContext | null][] = [
    ['no header', {}, null],
    ['traceparent', { traceparent: `00-${TRACE}-${SPAN}-01` }, { traceId: TRACE, spanId: SPAN }],
    ['traceparent, not sampled', { traceparent: `00-${TRACE}-${SPAN}-00` }, { traceId: TRACE, spanId: SPAN }],
    [
      'traceparent in upper case (read as lower case)',
      { traceparent: `00-${TRACE.toUpperCase()}-${SPAN.toUpperCase()}-01` },
      { traceId: TRACE, spanId: SPAN },
    ],
    [
      'traceparent of a later version, with more fields',
      { traceparent: `01-${TRACE}-${SPAN}-01-what-comes-next` },
      { traceId: TRACE, spanId: SPAN },
    ],
    ['traceparent version 00 with a fifth field', { traceparent: `00-${TRACE}-${SPAN}-01-extra` }, null],
    ['traceparent version ff', { traceparent: `ff-${TRACE}-${SPAN}-01` }, null],
    ['traceparent with an all-zero trace id', { traceparent: `00-${'0'.repeat(32)}-${SPAN}-01` }, null],
    [
      'traceparent with an all-zero span id (the trace still joins)',
      { traceparent: `00-${TRACE}-${'0'.repeat(16)}-01` },
      { traceId: TRACE, spanId: null },
    ],
    ['traceparent with a short trace id', { traceparent: `00-${TRACE.slice(1)}-${SPAN}-01` }, null],
    ['traceparent that is not hex', { traceparent: `00-${'g'.repeat(32)}-${SPAN}-01` }, null],
    ['traceparent sent twice', { traceparent: [`00-${TRACE}-${SPAN}-01`, `00-${TRACE}-${SPAN}-01`] }, null],
    ['traceparent of garbage', { traceparent: 'hello' }, null],
    [
      'traceparent sent twice, as Node joins it',
      { traceparent: `00-${TRACE}-${SPAN}-01, 00-${TRACE}-${SPAN}-01` },
      null,
    ],
    [
      'X-Cloud-Trace-Context with a span and options',
      { 'x-cloud-trace-context': `${TRACE}/${SPAN_DECIMAL};o=1` },
      { traceId: TRACE, spanId: SPAN },
    ],
    [
      'X-Cloud-Trace-Context with a span, no options',
      { 'x-cloud-trace-context': `${TRACE}/1` },
      { traceId: TRACE, spanId: '0000000000000001' },
    ],
    [
      'X-Cloud-Trace-Context with the largest span',
      { 'x-cloud-trace-context': `${TRACE}/18446744073709551615` },
      { traceId: TRACE, spanId: 'ffffffffffffffff' },
    ],
    [
      'X-Cloud-Trace-Context with a span past 64 bits (the trace still joins)',
      { 'x-cloud-trace-context': `${TRACE}/18446744073709551616;o=1` },
      { traceId: TRACE, spanId: null },
    ],
    [
      'X-Cloud-Trace-Context with a span that is not decimal',
      { 'x-cloud-trace-context': `${TRACE}/${SPAN};o=1` },
      { traceId: TRACE, spanId: null },
    ],
    [
      'X-Cloud-Trace-Context with a zero span',
      { 'x-cloud-trace-context': `${TRACE}/0;o=1` },
      { traceId: TRACE, spanId: null },
    ],
    [
      'X-Cloud-Trace-Context, trace only',
      { 'x-cloud-trace-context': TRACE },
      { traceId: TRACE, spanId: null },
    ],
    ['X-Cloud-Trace-Context with a long trace id', { 'x-cloud-trace-context': `${TRACE}0/1;o=1` }, null],
    ['X-Cloud-Trace-Context of garbage', { 'x-cloud-trace-context': 'not-a-trace' }, null],
    [
      'both headers: X-Cloud-Trace-Context wins (as the audit trail always read it)',
      {
        'x-cloud-trace-context': `${TRACE}/1;o=1`,
        traceparent: `00-${'a'.repeat(32)}-${SPAN}-01`,
      },
      { traceId: TRACE, spanId: '0000000000000001' },
    ],
    [
      'both headers, X-Cloud-Trace-Context malformed: traceparent',
      { 'x-cloud-trace-context': 'garbage', traceparent: `00-${TRACE}-${SPAN}-01` },
      { traceId: TRACE, spanId: SPAN },
    ],
    ['both headers malformed', { 'x-cloud-trace-context': 'garbage', traceparent: 'garbage' }, null],
  ];
  for (const [name, headers, expected] of cases) {
    it(`${name}: ${expected ? `trace ${expected.traceId.slice(0, 6)}…, span ${expected.spanId}` : 'no trace'}`, () => {
      assert.deepEqual(traceContextOf(headers), expected);
      assert.equal(traceIdOf(headers), expected?.traceId ?? null);
    });
  }
});

describe('structured log lines', () => {
  const capture = () => {
    const lines: Record<string, unknown>[] = [];
    const logger = new StructuredLogger({
      service: 'inferenceApi',
      project: 'demo-p',
      write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>),
    });
    return { logger, lines };
  };

  it("a function's own lines carry its service label and no trace", () => {
    const { logger, lines } = capture();
    logger.warn('breaker store unreachable', { provider: 'a' });
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.severity, 'WARNING');
    assert.equal(lines[0]!.provider, 'a');
    assert.deepEqual(lines[0]!['logging.googleapis.com/labels'], { service: 'inferenceApi' });
    assert.equal('logging.googleapis.com/trace' in lines[0]!, false);
    assert.equal('logging.googleapis.com/spanId' in lines[0]!, false);
  });

  it("a request's lines carry its trace as a Cloud Trace resource name, its span and its tenant", () => {
    const { logger, lines } = capture();
    const log = logger.forRequest({ traceparent: `00-${TRACE}-${SPAN}-01` });
    log.info('before authentication');
    log.tenant = 'st-marys';
    log.error('after authentication', { code: 4 });
    assert.equal(log.traceId, TRACE);
    for (const line of lines) {
      assert.equal(line['logging.googleapis.com/trace'], `projects/demo-p/traces/${TRACE}`);
      assert.equal(line['logging.googleapis.com/spanId'], SPAN);
    }
    assert.deepEqual(lines[0]!['logging.googleapis.com/labels'], { service: 'inferenceApi' });
    assert.deepEqual(lines[1]!['logging.googleapis.com/labels'], {
      service: 'inferenceApi',
      tenant: 'st-marys',
    });
    assert.equal(lines[1]!.severity, 'ERROR');
  });

  it('a request without a trace header writes lines without trace or span', () => {
    const { logger, lines } = capture();
    logger.forRequest({}).info('no trace');
    assert.equal('logging.googleapis.com/trace' in lines[0]!, false);
    assert.equal('logging.googleapis.com/spanId' in lines[0]!, false);
  });

  it('no field can overwrite the special keys', () => {
    const { logger, lines } = capture();
    const log = logger.forRequest({ 'x-cloud-trace-context': `${TRACE}/1` });
    log.tenant = 'acme';
    log.info('hostile fields', {
      'logging.googleapis.com/trace': 'projects/other/traces/x',
      'logging.googleapis.com/labels': { tenant: 'someone-else' },
      'logging.googleapis.com/spanId': 'x',
      time: 'then',
    });
    assert.equal(lines[0]!['logging.googleapis.com/trace'], `projects/demo-p/traces/${TRACE}`);
    assert.deepEqual(lines[0]!['logging.googleapis.com/labels'], { service: 'inferenceApi', tenant: 'acme' });
    assert.equal(lines[0]!['logging.googleapis.com/spanId'], '0000000000000001');
    assert.notEqual(lines[0]!.time, 'then');
  });
});
