import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createGatewayClient } from '../../functions/client/gatewayClient.js';
import { uniqueTenant } from '../support/gatewayHarness.js';
import { useReviewStack } from '../support/reviewHarness.js';

/**
 * The typed client's example (docs/api.md), run against the real inference and reviewer functions: a
 * clinical app submits a note, a reviewer edits the held output, the app reads the result. Every answer is
 * also checked against the OpenAPI document by the harness.
 */
describe('typed client (openapi-fetch over the generated schema): the docs/api.md example', () => {
  const { models, h } = useReviewStack();

  it('submits, reviews and reads an inference, with typed bodies and typed problems', async () => {
    const tenant = uniqueTenant();
    await models.a.setBehaviour({ confidence: 0.5 });
    const app = createGatewayClient({
      baseUrl: h.inferenceUrl,
      token: () => `dev:${tenant}:clinician:alice`,
    });
    const reviewer = createGatewayClient({
      baseUrl: h.reviewerUrl,
      token: () => `dev:${tenant}:reviewer:rita`,
    });

    // The clinical app: one key per logical request, reused on every retry of it.
    const key = randomUUID();
    const submitted = await app.POST('/v1/inferences', {
      params: { header: { 'Idempotency-Key': key } },
      body: {
        task: 'medication-extraction',
        input: { text: 'Metformin 500 mg PO BID and lisinopril 10 mg daily.' },
      },
    });
    assert.equal(submitted.response.status, 202);
    assert.ok(submitted.data);
    assert.equal(submitted.data.status, 'pending_review');
    assert.equal(submitted.response.headers.get('Location'), `/v1/inferences/${submitted.data.id}`);
    await h.takenIn(submitted.data.id);

    // The reviewer: the queue, a claim, an edit.
    const queue = await reviewer.GET('/v1/reviews', { params: { query: { state: 'pending', limit: 10 } } });
    const item = queue.data?.items.find((i) => i.inferenceId === submitted.data?.id);
    assert.ok(item);
    assert.equal(item.escalated, false);
    assert.equal(item.sampled, false);
    assert.equal(item.decision, null);

    const unclaimed = await reviewer.POST('/v1/reviews/{id}/decision', {
      params: { path: { id: item.id } },
      body: { action: 'approve' },
    });
    assert.equal(unclaimed.response.status, 409);
    assert.equal(unclaimed.error?.type, 'tag:clinical-ai-gateway,2026:problems/conflict');

    const claimed = await reviewer.POST('/v1/reviews/{id}/claim', { params: { path: { id: item.id } } });
    assert.equal(claimed.data?.state, 'claimed');
    const output = {
      medications: [{ name: 'metformin', dose: '500 mg', route: 'oral', frequency: 'twice daily' }],
    };
    const decided = await reviewer.POST('/v1/reviews/{id}/decision', {
      params: { path: { id: item.id } },
      body: { action: 'edit', output, reasonCode: 'incomplete', note: 'Only metformin is current.' },
    });
    assert.equal(decided.data?.state, 'edited');
    assert.deepEqual(decided.data?.decision?.output, output);
    assert.equal(decided.data?.decision?.reviewer, 'rita');

    // The clinical app reads the result.
    const read = await app.GET('/v1/inferences/{id}', { params: { path: { id: submitted.data.id } } });
    assert.equal(read.data?.status, 'completed');
    assert.deepEqual(read.data?.output, output);
    assert.equal(read.data?.review?.state, 'edited');
  });

  it('surfaces an authentication failure as a typed problem', async () => {
    const app = createGatewayClient({ baseUrl: h.inferenceUrl, token: () => 'not-a-token' });
    const answer = await app.GET('/v1/inferences/{id}', { params: { path: { id: 'inf_unknown' } } });
    assert.equal(answer.response.status, 401);
    assert.equal(answer.response.headers.get('WWW-Authenticate'), 'Bearer');
    assert.equal(answer.error?.status, 401);
  });
});
