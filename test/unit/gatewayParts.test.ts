import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../functions/src/config.js';
import { createGateway } from '../../functions/src/gateway.js';

/**
 * Each deployed function gets only the secrets it needs: provider API keys are mounted into the inference API
 * alone. The other functions must start without them, and the inference API must refuse to start without them.
 */
describe('gateway parts per function', () => {
  const routing = {
    providers: {
      openai: {
        kind: 'openai-compatible',
        baseUrl: 'https://api.openai.example/v1',
        apiKeyEnv: 'OPENAI_API_KEY',
      },
    },
    tasks: {
      'medication-extraction': { chain: [{ provider: 'openai', model: 'gpt-x' }] },
      'clinical-summary': { chain: [{ provider: 'openai', model: 'gpt-x' }] },
      'icd10-suggestion': { chain: [{ provider: 'openai', model: 'gpt-x' }] },
    },
  };
  const production = {
    GATEWAY_ENV: 'production',
    GOOGLE_CLOUD_PROJECT: 'demo-parts',
    AUTH_AUDIENCE: 'https://inference-api.example.run.app',
    AUTH_PRINCIPALS: JSON.stringify({
      'alice@hospital.example': { tenant: 'st-marys', roles: ['clinician'] },
    }),
    AUDIT_HMAC_KEY: 'a-production-like-key-of-enough-length',
    AUDIT_CHAIN_KEY: 'a-production-like-chain-key-of-enough-length',
    AUDIT_CHAIN_KEY_ID: 'v1',
    ROUTING_CONFIG: JSON.stringify(routing),
    REVIEW_JOBS_URL: 'https://review-jobs.example.run.app',
    TASKS_SERVICE_ACCOUNT: 'tasks@demo-parts.iam.gserviceaccount.com',
    AUDIT_TO_STDOUT: 'false',
  };

  for (const target of ['reviewerApi', 'reviewJobs', 'reviewIntake']) {
    it(`${target} starts without any provider key`, async () => {
      const gateway = createGateway(loadConfig(production), {}, { eager: [target] });
      await gateway.close();
    });
  }

  it('inferenceApi refuses to start without its provider key, naming the variable', () => {
    delete process.env.OPENAI_API_KEY;
    assert.throws(
      () => createGateway(loadConfig(production), {}, { eager: ['inferenceApi'] }),
      (e) => e instanceof ConfigError && /OPENAI_API_KEY/.test(e.message),
    );
  });

  it('inferenceApi starts once the key is mounted', async () => {
    process.env.OPENAI_API_KEY = 'sk-test-only';
    try {
      const gateway = createGateway(loadConfig(production), {}, { eager: ['inferenceApi'] });
      await gateway.close();
    } finally {
      delete process.env.OPENAI_API_KEY;
    }
  });
});
