import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import supertest from 'supertest';
import { StructuredLogger } from '../../functions/src/adapters/logging/structuredLog.js';
import { UnauthenticatedError } from '../../functions/src/core/errors.js';
import { installProblemFinalHandler } from '../../functions/src/http/frameworkErrors.js';
import { serveRoutes } from '../../functions/src/http/request.js';

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const SPAN = 'b7ad6b7169203331';

/**
 * Every HTTP function serves its routes through `serveRoutes`, which gives each request its logger: the lines
 * a handler writes, and the line of an unexpected error, carry the request's trace, span and tenant.
 */
describe('per-request logger of the HTTP functions (Functions Framework test server)', () => {
  const lines: Record<string, unknown>[] = [];
  const traces: (string | null)[] = [];
  let api: ReturnType<typeof supertest>;

  before(() => {
    installProblemFinalHandler();
    const handler = serveRoutes({
      routes: [
        {
          method: 'POST',
          path: '/work',
          handle: async ({ res, log }) => {
            traces.push(log.traceId);
            log.info('work done', { items: 2 });
            res.status(204).end();
          },
        },
        {
          method: 'POST',
          path: '/crash',
          handle: async () => {
            throw new TypeError('the message may quote data we must not log');
          },
        },
      ],
      authenticate: async (req) => {
        if (req.headers.authorization !== 'Bearer ok') throw new UnauthenticatedError('no');
        return { principal: { tenant: 'st-marys' } };
      },
      healthy: async () => true,
      logger: new StructuredLogger({
        service: 'inferenceApi',
        project: 'demo-logs',
        write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>),
      }),
    });
    const name = `requestLogs-${randomUUID().slice(0, 8)}`;
    http(name, handler);
    api = supertest(getTestServer(name));
  });
  beforeEach(() => {
    lines.length = 0;
    traces.length = 0;
  });

  it("a handler's lines carry the request's trace, span and tenant, and the handler gets the same trace id", async () => {
    const res = await api
      .post('/work')
      .set('Authorization', 'Bearer ok')
      .set('traceparent', `00-${TRACE}-${SPAN}-01`);
    assert.equal(res.status, 204);
    assert.deepEqual(traces, [TRACE]);
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.message, 'work done');
    assert.equal(lines[0]!['logging.googleapis.com/trace'], `projects/demo-logs/traces/${TRACE}`);
    assert.equal(lines[0]!['logging.googleapis.com/spanId'], SPAN);
    assert.deepEqual(lines[0]!['logging.googleapis.com/labels'], {
      service: 'inferenceApi',
      tenant: 'st-marys',
    });
  });

  it('an unexpected error is logged once, on the request’s trace, by name and without its message', async () => {
    const res = await api
      .post('/crash')
      .set('Authorization', 'Bearer ok')
      .set('X-Cloud-Trace-Context', `${TRACE}/1;o=1`);
    assert.equal(res.status, 500);
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.severity, 'ERROR');
    assert.equal(lines[0]!.error, 'TypeError');
    assert.equal(lines[0]!['logging.googleapis.com/trace'], `projects/demo-logs/traces/${TRACE}`);
    assert.deepEqual(lines[0]!['logging.googleapis.com/labels'], {
      service: 'inferenceApi',
      tenant: 'st-marys',
    });
    assert.doesNotMatch(JSON.stringify(lines[0]), /must not log/);
  });

  it('a refused caller is answered, not logged', async () => {
    const res = await api.post('/work').set('traceparent', `00-${TRACE}-${SPAN}-01`);
    assert.equal(res.status, 401);
    assert.deepEqual(lines, []);
  });
});
