import fc from 'fast-check';
import {
  assertSafeAnswer,
  contentTypes,
  fuzzSeed,
  headerValue,
  hostileJson,
  hostileString,
  rawBody,
  stringsIn,
} from '../support/fuzz.js';
import { bearer, medicationNote, uniqueTenant, useGatewayStack } from '../support/gatewayHarness.js';

/**
 * Generated hostile requests to `POST /v1/inferences` (one gateway for the file): arbitrary JSON and
 * near-miss request bodies, wrong types, deep nesting, huge and Unicode-edge strings, and variations of
 * every header the endpoint reads. Never a 5xx, every error problem+json without the clinical text.
 */
describe('hostile inference requests, generated (fast-check, 1,000 per run)', function () {
  this.timeout(300_000);
  const tenant = uniqueTenant();

  const { gw } = useGatewayStack();

  const nearMissBody = fc.record(
    {
      task: fc.oneof(
        fc.constantFrom('medication-extraction', 'clinical-summary', 'icd10-suggestion'),
        hostileJson,
      ),
      input: fc.oneof(
        fc.record({ text: fc.oneof(hostileString, fc.constant(medicationNote)) }),
        fc.record({ text: hostileJson }),
        hostileJson,
      ),
      patientRef: hostileJson,
      encounterRef: hostileJson,
      callbackUrl: fc.oneof(fc.webUrl(), hostileString),
      extra: hostileJson,
    },
    { requiredKeys: ['task', 'input'] },
  );

  const request = fc.record({
    body: rawBody(fc.oneof({ weight: 3, arbitrary: nearMissBody }, { weight: 1, arbitrary: hostileJson })),
    contentType: contentTypes,
    key: fc.option(fc.oneof(fc.uuid(), headerValue), { nil: undefined }),
    authorization: fc.option(
      fc.oneof(
        fc.constantFrom(
          bearer(tenant, 'clinician', 'alice'),
          bearer(tenant, 'reviewer', 'rita'),
          bearer(tenant, 'admin', 'al'),
          'Bearer ',
          'Basic YWxpY2U6c2VjcmV0',
        ),
        headerValue.map((v) => `Bearer ${v}`),
      ),
      { nil: undefined },
    ),
    method: fc.constantFrom('POST', 'POST', 'POST', 'PUT', 'PATCH'),
  });

  it('never answers 5xx, and every error is problem+json that quotes no clinical text', async () => {
    const seed = fuzzSeed('inference POST');
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        let req =
          r.method === 'POST'
            ? gw.api.post('/v1/inferences')
            : r.method === 'PUT'
              ? gw.api.put('/v1/inferences')
              : gw.api.patch('/v1/inferences');
        if (r.contentType) req = req.set('Content-Type', r.contentType);
        if (r.key !== undefined) req = req.set('Idempotency-Key', r.key);
        if (r.authorization !== undefined) req = req.set('Authorization', r.authorization);
        const res = await req.send(r.body);
        let secrets: string[] = [medicationNote, r.body];
        try {
          secrets = [...secrets, ...stringsIn(JSON.parse(r.body))];
        } catch {
          // not JSON: the raw body is the secret
        }
        assertSafeAnswer(res, secrets);
      }),
      { numRuns: 1_000, seed },
    );
  });
});
