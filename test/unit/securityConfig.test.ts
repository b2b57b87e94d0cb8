import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { DevAuthenticator } from '../../functions/src/adapters/auth/devAuthenticator.js';
import { DevServiceCallerVerifier } from '../../functions/src/adapters/auth/serviceCallerAuthenticator.js';
import {
  LocalTaskRunner,
  LocalTaskScheduler,
} from '../../functions/src/adapters/tasks/localTaskScheduler.js';
import { ConfigError, loadConfig } from '../../functions/src/config.js';

const routing = {
  providers: { openai: { kind: 'openai-compatible', baseUrl: 'https://api.openai.example/v1' } },
  tasks: {
    'medication-extraction': { chain: [{ provider: 'openai', model: 'gpt-x' }] },
    'clinical-summary': { chain: [{ provider: 'openai', model: 'gpt-x' }] },
    'icd10-suggestion': { chain: [{ provider: 'openai', model: 'gpt-x' }] },
  },
};
const production = {
  GATEWAY_ENV: 'production',
  GOOGLE_CLOUD_PROJECT: 'clinical-prod',
  AUTH_AUDIENCE: 'https://inference.example.org',
  AUTH_PRINCIPALS: '{"a@example.org":{"tenant":"t","roles":["clinician"]}}',
  AUDIT_HMAC_KEY: 'k'.repeat(32),
  AUDIT_CHAIN_KEY: 'c'.repeat(40),
  AUDIT_CHAIN_KEY_ID: 'v1',
  ROUTING_CONFIG: JSON.stringify(routing),
  REVIEW_JOBS_URL: 'https://review-jobs.example.run.app',
  TASKS_SERVICE_ACCOUNT: 'gw-review-tasks@clinical-prod.iam.gserviceaccount.com',
};
const onCloudRun = { K_SERVICE: 'inference-api' };
const secret = () => `whsec_${randomBytes(32).toString('base64')}`;

const refusedWith = (variable: RegExp) => (e: unknown) =>
  e instanceof ConfigError && variable.test(e.message);

describe('production safety on Cloud Run (K_SERVICE)', () => {
  it('a complete production configuration starts on Cloud Run', () => {
    assert.equal(loadConfig({ ...production, ...onCloudRun }).env, 'production');
  });

  const refused: [string, Record<string, string>, RegExp][] = [
    ['GATEWAY_ENV left out (it defaults to local)', { K_SERVICE: 'inference-api' }, /GATEWAY_ENV.*K_SERVICE/],
    [
      'GATEWAY_ENV=local with dev tokens',
      { ...production, GATEWAY_ENV: 'local', AUTH_MODE: 'dev', ...onCloudRun },
      /GATEWAY_ENV.*K_SERVICE/,
    ],
    [
      'GATEWAY_ENV=local with everything else production-like',
      { ...production, GATEWAY_ENV: 'local', ...onCloudRun },
      /GATEWAY_ENV.*K_SERVICE/,
    ],
    ['dev tokens', { ...production, AUTH_MODE: 'dev', ...onCloudRun }, /AUTH_MODE/],
    ['the local task scheduler', { ...production, TASKS_MODE: 'local', ...onCloudRun }, /TASKS_MODE/],
    [
      'the public development audit key',
      { ...production, AUDIT_HMAC_KEY: '', ...onCloudRun },
      /AUDIT_HMAC_KEY/,
    ],
    [
      'a missing audit chain key',
      { ...production, AUDIT_CHAIN_KEY: '', AUDIT_CHAIN_KEY_ID: '', ...onCloudRun },
      /AUDIT_CHAIN_KEY/,
    ],
    [
      'the development chain key',
      { ...production, AUDIT_CHAIN_KEY_ID: 'dev', ...onCloudRun },
      /AUDIT_CHAIN_KEY_ID/,
    ],
    [
      'the local model servers',
      { ...production, ROUTING_CONFIG: '', ...onCloudRun },
      /ROUTING_CONFIG.*K_SERVICE/,
    ],
    [
      'a plain-http callback origin',
      { ...production, CALLBACK_ALLOWED_ORIGINS: '{"t":["http://127.0.0.1:9000"]}', ...onCloudRun },
      /CALLBACK_ALLOWED_ORIGINS/,
    ],
  ];
  for (const [name, env, variable] of refused) {
    it(`refuses ${name}, naming the variable`, () => {
      // Empty strings stand for "not set", as an unset Terraform variable would be.
      const set = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ''));
      assert.throws(() => loadConfig(set), refusedWith(variable));
    });
  }

  it('development stand-ins refuse to be built on Cloud Run, even around the configuration', () => {
    const saved = process.env.K_SERVICE;
    process.env.K_SERVICE = 'review-jobs';
    try {
      for (const build of [
        () => new DevAuthenticator(),
        () => new DevServiceCallerVerifier(['tasks@local.test']),
        () => new LocalTaskScheduler({} as never),
        () => new LocalTaskRunner({} as never),
      ]) {
        assert.throws(build, refusedWith(/K_SERVICE/));
      }
    } finally {
      if (saved === undefined) delete process.env.K_SERVICE;
      else process.env.K_SERVICE = saved;
    }
  });
});

describe('AUTH_PRINCIPALS (emails ignore case)', () => {
  it('lower-cases the directory’s emails', () => {
    const c = loadConfig({
      ...production,
      AUTH_PRINCIPALS: '{" Alice@Hospital.EXAMPLE ":{"tenant":"t","roles":["clinician"]}}',
    });
    assert.ok(c.auth.mode === 'google');
    assert.deepEqual(Object.keys(c.auth.principals), ['alice@hospital.example']);
  });

  it('refuses two entries that differ only in case', () => {
    const principals = JSON.stringify({
      'alice@hospital.example': { tenant: 't', roles: ['clinician'] },
      'ALICE@hospital.example': { tenant: 'u', roles: ['admin'] },
    });
    assert.throws(
      () => loadConfig({ ...production, AUTH_PRINCIPALS: principals }),
      refusedWith(/AUTH_PRINCIPALS/),
    );
  });
});

describe('CALLBACK_ALLOWED_ORIGINS and WEBHOOK_SECRETS', () => {
  it('none are allowed when the variable is absent', () => {
    assert.deepEqual(loadConfig(production).callbacks, { allowedOrigins: {}, webhookSecrets: {} });
  });

  it('keeps each origin in its WHATWG serialisation', () => {
    const c = loadConfig({
      ...production,
      CALLBACK_ALLOWED_ORIGINS: JSON.stringify({
        t: ['HTTPS://EHR.Example.org:443', 'https://ehr.example.org:8443/'],
      }),
    });
    assert.deepEqual(c.callbacks.allowedOrigins, {
      t: ['https://ehr.example.org', 'https://ehr.example.org:8443'],
    });
  });

  it('allows plain-http loopback origins locally only', () => {
    const local = loadConfig({
      GATEWAY_ENV: 'local',
      CALLBACK_ALLOWED_ORIGINS: '{"t":["http://127.0.0.1:9000"]}',
    });
    assert.deepEqual(local.callbacks.allowedOrigins, { t: ['http://127.0.0.1:9000'] });
    for (const origin of ['http://127.0.0.1:9000', 'http://ehr.example.org']) {
      assert.throws(
        () => loadConfig({ ...production, CALLBACK_ALLOWED_ORIGINS: JSON.stringify({ t: [origin] }) }),
        refusedWith(/CALLBACK_ALLOWED_ORIGINS/),
      );
    }
  });

  for (const [name, value] of [
    ['not JSON', '{t:'],
    ['a path instead of an origin', '{"t":["https://ehr.example.org/hooks"]}'],
    ['credentials', '{"t":["https://u:p@ehr.example.org"]}'],
    ['another scheme', '{"t":["ftp://ehr.example.org"]}'],
    ['the gateway’s own jobs origin', '{"t":["https://review-jobs.example.run.app"]}'],
  ] as const) {
    it(`refuses ${name}`, () => {
      assert.throws(
        () => loadConfig({ ...production, CALLBACK_ALLOWED_ORIGINS: value }),
        refusedWith(/CALLBACK_ALLOWED_ORIGINS/),
      );
    });
  }

  it('takes whsec_ secrets, and where they are given, needs one for every tenant with callbacks', () => {
    const origins = JSON.stringify({ t: ['https://ehr.example.org'], u: ['https://other.example.org'] });
    const t = secret();
    assert.throws(
      () =>
        loadConfig({
          ...production,
          CALLBACK_ALLOWED_ORIGINS: origins,
          WEBHOOK_SECRETS: JSON.stringify({ t }),
        }),
      refusedWith(/WEBHOOK_SECRETS.*\bu\b/),
    );
    const both = { t, u: secret() };
    const c = loadConfig({
      ...production,
      CALLBACK_ALLOWED_ORIGINS: origins,
      WEBHOOK_SECRETS: JSON.stringify(both),
    });
    assert.deepEqual(c.callbacks.webhookSecrets, both);
    // The inference API is not given the secrets: it only checks origins.
    assert.deepEqual(
      loadConfig({ ...production, CALLBACK_ALLOWED_ORIGINS: origins }).callbacks.webhookSecrets,
      {},
    );
  });

  for (const [name, value] of [
    ['a secret without the whsec_ prefix', randomBytes(32).toString('base64')],
    ['a secret of 8 bytes', `whsec_${randomBytes(8).toString('base64')}`],
    ['a secret that is not base64', 'whsec_not base64!'],
  ]) {
    it(`refuses ${name}`, () => {
      assert.throws(
        () => loadConfig({ ...production, WEBHOOK_SECRETS: JSON.stringify({ t: value }) }),
        refusedWith(/WEBHOOK_SECRETS/),
      );
    });
  }
});
