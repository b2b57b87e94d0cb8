import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../functions/src/config.js';

const production = {
  GATEWAY_ENV: 'production',
  GOOGLE_CLOUD_PROJECT: 'clinical-prod',
  AUTH_AUDIENCE: 'https://reviewer.example.org',
  AUTH_PRINCIPALS: '{"rita@example.org":{"tenant":"acme","roles":["reviewer"]}}',
  AUDIT_HMAC_KEY: 'k'.repeat(32),
  AUDIT_CHAIN_KEY: 'c'.repeat(40),
  AUDIT_CHAIN_KEY_ID: 'v1',
  REVIEW_JOBS_URL: 'https://review-jobs-123.europe-west4.run.app',
  TASKS_SERVICE_ACCOUNT: 'gw-review-tasks@clinical-prod.iam.gserviceaccount.com',
};

describe('IAP setting (config.ts)', () => {
  it('is off unless IAP_AUDIENCE is set', () => {
    assert.equal(loadConfig(production).iap, null);
    assert.equal(loadConfig({ GATEWAY_ENV: 'local' }).iap, null);
  });

  for (const audience of [
    '/projects/123456789012/global/backendServices/4242424242',
    '/projects/123456789012/locations/europe-west4/services/reviewer-api',
  ]) {
    it(`takes the audience ${audience}`, () => {
      assert.deepEqual(loadConfig({ ...production, IAP_AUDIENCE: audience }).iap, { audience });
    });
  }

  for (const audience of [
    'https://reviewer.example.org',
    '/projects/clinical-prod/global/backendServices/42',
    '/projects/123/global/backendServices/',
    '/projects/123/global/backendServices/42/extra',
  ]) {
    it(`refuses the audience ${audience}, naming the variable`, () => {
      assert.throws(() => loadConfig({ ...production, IAP_AUDIENCE: audience }), /IAP_AUDIENCE/);
    });
  }

  it('refuses IAP with development tokens: IAP identities map through AUTH_PRINCIPALS', () => {
    assert.throws(
      () => loadConfig({ GATEWAY_ENV: 'local', IAP_AUDIENCE: '/projects/1/global/backendServices/2' }),
      (e: unknown) => e instanceof ConfigError && /IAP_AUDIENCE/.test(e.message),
    );
  });
});
