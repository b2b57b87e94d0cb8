/**
 * The `validation` blocks of terraform/variables.tf, run by terraform itself: the file alone (no resource,
 * so no provider to download) is planned with one value at a time, which terraform accepts or refuses
 * exactly as it would in the real module. Skipped, saying so, without a terraform binary (Cloud Build's
 * policy-tests step has one).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LIMITS, sixCalendarYearsDays } from './checks.js';
import { TERRAFORM_DIR } from './terraformModule.js';

const TERRAFORM = process.env.TERRAFORM_BIN ?? 'terraform';

/** The variables without a default, set to something valid. */
const REQUIRED = {
  project_id: 'acme-clinical-ai-prod',
  auth_principals: { 'ops@acme.org': { tenant: 'acme', roles: ['admin'] } },
  routing_config: JSON.stringify({ providers: {}, tasks: {} }),
};

type Case = { name: string; vars: Record<string, unknown>; accepted: boolean };

const sixYears = sixCalendarYearsDays();
const ack = LIMITS.pubsubAckDeadlineSeconds;
const attempt = LIMITS.schedulerAttemptDeadlineSeconds;

const CASES: Case[] = [
  { name: 'the required variables alone', vars: {}, accepted: true },
  {
    name: `audit retention of ${sixYears - 1} days`,
    vars: { audit_retention_days: sixYears - 1 },
    accepted: false,
  },
  { name: `audit retention of ${sixYears} days`, vars: { audit_retention_days: sixYears }, accepted: true },
  {
    name: `a review-intake timeout of ${ack.max + 1} s (its ack deadline)`,
    vars: { function_sizing: { review_intake: { timeout_seconds: ack.max + 1 } } },
    accepted: false,
  },
  {
    name: `a review-intake timeout of ${ack.max} s`,
    vars: { function_sizing: { review_intake: { timeout_seconds: ack.max } } },
    accepted: true,
  },
  {
    name: `a review-jobs timeout of ${attempt.min - 1} s (its attempt deadline)`,
    vars: { function_sizing: { review_jobs: { timeout_seconds: attempt.min - 1 } } },
    accepted: false,
  },
  {
    name: `a review-jobs timeout of ${attempt.max + 1} s`,
    vars: { function_sizing: { review_jobs: { timeout_seconds: attempt.max + 1 } } },
    accepted: false,
  },
  {
    name: `a review-jobs timeout of ${attempt.max} s`,
    vars: { function_sizing: { review_jobs: { timeout_seconds: attempt.max } } },
    accepted: true,
  },
  {
    name: 'an inference API timeout over an hour',
    vars: { function_sizing: { inference_api: { timeout_seconds: 3601 } } },
    accepted: false,
  },
  { name: 'chain key version 0', vars: { audit_chain_key_version: 0 }, accepted: false },
  { name: 'chain key version 1.5', vars: { audit_chain_key_version: 1.5 }, accepted: false },
  { name: 'chain key version 2', vars: { audit_chain_key_version: 2 }, accepted: true },
  { name: 'webhook secrets version 0', vars: { webhook_secrets_version: 0 }, accepted: false },
  {
    name: 'a provider key without a version',
    vars: { provider_api_key_secrets: { OPENAI_API_KEY: { secret_id: 'openai-api-key', version: 0 } } },
    accepted: false,
  },
  {
    name: 'a provider key at version 3',
    vars: { provider_api_key_secrets: { OPENAI_API_KEY: { secret_id: 'openai-api-key', version: 3 } } },
    accepted: true,
  },
  {
    name: 'a callback origin',
    vars: {
      callback_allowed_origins: { acme: ['https://ehr.acme-hospital.org', 'https://ehr.acme.org:8443'] },
    },
    accepted: true,
  },
  {
    name: 'a callback "origin" with a path',
    vars: { callback_allowed_origins: { acme: ['https://ehr.acme-hospital.org/callbacks'] } },
    accepted: false,
  },
  {
    name: 'a plain-http callback origin',
    vars: { callback_allowed_origins: { acme: ['http://ehr.acme-hospital.org'] } },
    accepted: false,
  },
  {
    name: 'a review-events subscriber group with its tenant',
    vars: { review_event_subscribers: { 'acme-ehr': { group: 'ehr-integration@acme.org', tenant: 'acme' } } },
    accepted: true,
  },
  {
    name: 'a review-events subscriber that is everyone',
    vars: { review_event_subscribers: { everyone: { group: 'allUsers', tenant: 'acme' } } },
    accepted: false,
  },
  {
    name: 'a review-events subscriber whose tenant would break out of the filter',
    vars: { review_event_subscribers: { sneaky: { group: 'x@acme.org', tenant: 'acme" OR "1" = "1' } } },
    accepted: false,
  },
];

const probe = spawnSync(TERRAFORM, ['version'], { encoding: 'utf8' });
const missing = (probe.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';

describe('terraform/variables.tf validation blocks, run by terraform', function () {
  this.timeout(120_000);
  let dir: string;
  const run = (args: string[]) =>
    spawnSync(TERRAFORM, args, {
      cwd: dir,
      encoding: 'utf8',
      timeout: 60_000,
      env: {
        ...process.env,
        TF_IN_AUTOMATION: '1',
        TF_INPUT: '0',
        CHECKPOINT_DISABLE: '1',
        TF_DATA_DIR: path.join(dir, '.tf'),
      },
    });

  before(function () {
    if (missing) {
      console.warn(`      skipped: no ${TERRAFORM} binary on PATH (set TERRAFORM_BIN)`);
      this.skip();
    }
    dir = mkdtempSync(path.join(os.tmpdir(), 'terraform-variables-'));
    copyFileSync(path.join(TERRAFORM_DIR, 'variables.tf'), path.join(dir, 'variables.tf'));
    const init = run(['init', '-input=false', '-no-color', '-backend=false']);
    assert.equal(init.status, 0, `terraform init (no providers needed):\n${init.stdout}${init.stderr}`);
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const testCase of CASES) {
    it(`${testCase.accepted ? 'accepts' : 'refuses'} ${testCase.name}`, () => {
      const file = path.join(dir, 'case.tfvars.json');
      writeFileSync(file, JSON.stringify({ ...REQUIRED, ...testCase.vars }));
      const plan = run(['plan', '-input=false', '-no-color', '-lock=false', `-var-file=${file}`]);
      const output = `${plan.stdout}${plan.stderr}`;
      if (testCase.accepted) {
        assert.equal(plan.status, 0, output);
      } else {
        assert.notEqual(plan.status, 0, `terraform accepted it:\n${output}`);
        assert.match(output, /Invalid value for variable/, output);
      }
    });
  }
});
