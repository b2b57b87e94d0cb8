import assert from 'node:assert/strict';
import { buildOpenApiDocument } from '../../functions/src/http/contract/openApiDocument.js';
import { useReviewStack } from '../support/reviewHarness.js';

describe('GET /openapi.json on the inference and reviewer functions', () => {
  const { h } = useReviewStack({ topology: false });

  for (const api of ['inference', 'reviewer'] as const) {
    it(`${api}: answers the document without credentials`, async () => {
      const res = await h[api].get('/openapi.json');
      assert.equal(res.status, 200);
      assert.match(res.headers['content-type'] ?? '', /^application\/json/);
      assert.deepEqual(res.body, JSON.parse(JSON.stringify(buildOpenApiDocument())));
    });

    it(`${api}: only GET is public; anything else on the path still needs a token`, async () => {
      const res = await h[api].post('/openapi.json');
      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], 'Bearer');
    });
  }
});
