import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../functions/src/config.js';

const production = {
  GATEWAY_ENV: 'production',
  GOOGLE_CLOUD_PROJECT: 'clinical-prod',
  AUTH_AUDIENCE: 'https://inference.example.org',
  AUTH_PRINCIPALS: '{"a@example.org":{"tenant":"t","roles":["clinician"]}}',
  AUDIT_HMAC_KEY: 'k'.repeat(32),
  AUDIT_CHAIN_KEY: 'c'.repeat(40),
  AUDIT_CHAIN_KEY_ID: 'v1',
  REVIEW_JOBS_URL: 'https://europe-west4-clinical-prod.cloudfunctions.net/review-jobs',
  TASKS_SERVICE_ACCOUNT: 'gw-review-tasks@clinical-prod.iam.gserviceaccount.com',
};

describe('review settings (config.ts)', () => {
  it('defaults locally to the local task scheduler, the contract’s lease and the documented names', () => {
    const c = loadConfig({ GATEWAY_ENV: 'local' });
    assert.equal(c.tasks.mode, 'local');
    assert.equal(c.review.leaseMs, 600_000);
    assert.deepEqual(c.review.topics, {
      requests: 'review-requests',
      deadLetter: 'review-requests-dead-letter',
      escalations: 'review-escalations',
      events: 'review-events',
    });
    assert.equal(c.review.intakeSubscription, 'review-intake');
    assert.equal(c.review.maxDeliveryAttempts, 5);
    assert.equal(c.review.outboxMinAgeMs, 5_000);
    assert.deepEqual(c.tasks.queues, { deadlines: 'review-deadlines', callbacks: 'review-callbacks' });
    assert.equal(c.tasks.jobsUrl, 'http://127.0.0.1:8082');
    assert.equal(c.tasks.jobsAudience, c.tasks.jobsUrl);
    assert.equal(c.tasks.schedulerServiceAccount, c.tasks.serviceAccount);
  });

  it('uses Cloud Tasks in production, with the jobs URL as the tokens’ audience', () => {
    const c = loadConfig(production);
    assert.equal(c.tasks.mode, 'cloud');
    assert.equal(c.tasks.location, 'us-central1');
    assert.equal(c.tasks.jobsAudience, production.REVIEW_JOBS_URL);
    assert.equal(c.tasks.serviceAccount, production.TASKS_SERVICE_ACCOUNT);
  });

  const refused: [string, Record<string, string>, RegExp][] = [
    ['the local scheduler in production', { ...production, TASKS_MODE: 'local' }, /TASKS_MODE/],
    ['Cloud Tasks without the jobs URL', { ...production, REVIEW_JOBS_URL: '' }, /REVIEW_JOBS_URL/],
    [
      'Cloud Tasks without a service account',
      { ...production, TASKS_SERVICE_ACCOUNT: '' },
      /TASKS_SERVICE_ACCOUNT/,
    ],
    [
      'a plain-http jobs URL with Cloud Tasks',
      { ...production, REVIEW_JOBS_URL: 'http://jobs.internal' },
      /https/,
    ],
    ['a lease under 30 s', { GATEWAY_ENV: 'local', REVIEW_LEASE_SECONDS: '5' }, /REVIEW_LEASE_SECONDS/],
    [
      'fewer than 5 delivery attempts',
      { GATEWAY_ENV: 'local', REVIEW_MAX_DELIVERY_ATTEMPTS: '3' },
      /REVIEW_MAX_DELIVERY_ATTEMPTS/,
    ],
    ['a topic name Pub/Sub refuses', { GATEWAY_ENV: 'local', REVIEW_TOPIC: 'x' }, /REVIEW_TOPIC/],
    [
      'a service account that is not an email',
      { GATEWAY_ENV: 'local', TASKS_SERVICE_ACCOUNT: 'tasks' },
      /TASKS_SERVICE_ACCOUNT/,
    ],
    [
      // local-a then local-b at 2 s each, plus the commit margin: 9 s. A lease of 8 s would let a retry
      // take the key over while the first holder still waits on the fallback, and call a model twice.
      'an idempotency lease shorter than the provider chain can take',
      { GATEWAY_ENV: 'local', IDEMPOTENCY_LEASE_SECONDS: '8' },
      /IDEMPOTENCY_LEASE_SECONDS.*medication-extraction/,
    ],
    [
      'a chain key without its key id',
      { GATEWAY_ENV: 'local', AUDIT_CHAIN_KEY: 'k'.repeat(40) },
      /AUDIT_CHAIN_KEY_ID/,
    ],
    [
      'the development chain key id outside local runs',
      { GATEWAY_ENV: 'local', AUDIT_CHAIN_KEY: 'k'.repeat(40), AUDIT_CHAIN_KEY_ID: 'dev' },
      /AUDIT_CHAIN_KEY_ID/,
    ],
  ];
  it('accepts a lease that covers the chain', () => {
    assert.equal(
      loadConfig({ GATEWAY_ENV: 'local', IDEMPOTENCY_LEASE_SECONDS: '9' }).idempotency.leaseMs,
      9_000,
    );
  });
  for (const [what, env, names] of refused) {
    it(`refuses ${what}, naming the variable`, () => {
      assert.throws(
        () => loadConfig(env),
        (e: unknown) => e instanceof ConfigError && names.test(e.message),
      );
    });
  }
});
