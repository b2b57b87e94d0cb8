import assert from 'node:assert/strict';
import { buildOpenApiDocument } from '../../functions/src/http/contract/openApiDocument.js';
import { startModelServers } from '../support/gatewayHarness.js';
import { type ReviewHarness, startReviewHarness } from '../support/reviewHarness.js';

type Models = Awaited<ReturnType<typeof startModelServers>>;

describe('GET /openapi.json on the inference and reviewer functions', () => {
  let models: Models;
  let h: ReviewHarness;

  before(async () => {
    models = await startModelServers();
    h = await startReviewHarness({ models, topology: false });
  });
  after(async () => {
    await h.close();
    await models.close();
  });

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
