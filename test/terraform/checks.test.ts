// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Terraform interpolations (${...}) are compared as the text hcl2json returns.
/**
 * The behaviour checks of checks.ts on the real modules, and each on a copy of terraform/ with a mutation
 * it must catch: a check that let its mutation through would be a check that cannot fail.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bootstrapChecks, type Check, gatewayChecks } from './checks.js';
import { loadProviderSchema } from './providerSchema.js';
import { loadTerraformModule, TERRAFORM_DIR, type TerraformModule } from './terraformModule.js';

type Edit = { file: string; from: string | RegExp; to: string };
type Mutation = { name: string; edits: Edit[] };

/** check name → the mutations it must refuse (gateway module; `bootstrap/…` files for the bootstrap module). */
const GATEWAY_MUTATIONS: Record<keyof typeof gatewayChecks, Mutation[]> = {
  providerSchema: [
    {
      name: 'a misspelt max_instance_request_concurrency',
      edits: [
        {
          file: 'functions.tf',
          from: 'max_instance_request_concurrency =',
          to: 'max_instance_requests_concurrency =',
        },
      ],
    },
    {
      name: 'a required argument dropped (the sink destination)',
      edits: [{ file: 'logging.tf', from: /\n\s*destination\s*=.*\n/, to: '\n' }],
    },
    {
      name: 'a block written as an argument',
      edits: [
        {
          file: 'secrets.tf',
          from: /replication \{\n\s*auto \{\}\n\s*\}/,
          to: 'replication = { auto = {} }',
        },
      ],
    },
  ],
  functionsReachFirestore: [
    {
      name: 'roles/datastore.user dropped',
      edits: [
        {
          file: 'iam.tf',
          from: '["roles/datastore.user", "roles/logging.logWriter"]',
          to: '["roles/logging.logWriter"]',
        },
      ],
    },
  ],
  deadlinesWithinApiLimits: [
    {
      name: 'ack_deadline_seconds = 900',
      edits: [
        {
          file: 'pubsub.tf',
          from: 'ack_deadline_seconds = local.function_sizing["review_intake"].timeout_seconds',
          to: 'ack_deadline_seconds = 900',
        },
      ],
    },
    {
      name: "review-intake's default timeout over the ack deadline limit",
      edits: [
        {
          file: 'locals.tf',
          from: 'concurrency = 20, cpu = "1", memory = "512Mi", timeout_seconds = 60 }',
          to: 'concurrency = 20, cpu = "1", memory = "512Mi", timeout_seconds = 601 }',
        },
      ],
    },
    {
      name: "review-jobs' timeout over the Scheduler attempt deadline limit",
      edits: [{ file: 'locals.tf', from: 'timeout_seconds = 300 }', to: 'timeout_seconds = 3600 }' }],
    },
  ],
  auditSinkTakesOnlyOurStdout: [
    {
      name: 'the old sink filter (any Cloud Run entry with the label)',
      edits: [
        {
          file: 'logging.tf',
          from: 'filter                 = local.audit_log_filter',
          to: 'filter                 = "resource.type=\\"cloud_run_revision\\" AND ${local.audit_label_filter}"',
        },
      ],
    },
    {
      name: 'the stdout log name dropped from the filter',
      edits: [{ file: 'locals.tf', from: ' AND log_id(\\"run.googleapis.com/stdout\\")', to: '' }],
    },
    {
      name: 'a second writer on the audit dataset',
      edits: [
        {
          file: 'bigquery.tf',
          from: 'resource "google_bigquery_dataset_iam_member" "reader" {',
          to: 'resource "google_bigquery_dataset_iam_member" "extra_writer" {\n  project    = var.project_id\n  dataset_id = google_bigquery_dataset.audit.dataset_id\n  role       = "roles/bigquery.dataEditor"\n  member     = "serviceAccount:${google_service_account.function["inference_api"].email}"\n}\n\nresource "google_bigquery_dataset_iam_member" "reader" {',
        },
      ],
    },
  ],
  auditEntriesNotInDefault: [
    {
      name: 'no exclusion from _Default',
      edits: [
        { file: 'logging.tf', from: /resource "google_logging_project_exclusion"[\s\S]*?\n\}\n/, to: '' },
      ],
    },
    {
      name: 'an exclusion that only covers the sink filter (forged or other services stay in _Default)',
      edits: [
        {
          file: 'logging.tf',
          from: 'filter      = local.audit_label_filter',
          to: 'filter      = local.audit_log_filter',
        },
      ],
    },
    {
      name: 'a bucket-scoped metric',
      edits: [
        {
          file: 'logging.tf',
          from: '  description = each.value.description',
          to: '  description = each.value.description\n  bucket_name = "projects/p/locations/global/buckets/_Default"',
        },
      ],
    },
  ],
  retentionSixCalendarYears: [
    {
      name: 'six years of 365 days (2190)',
      edits: [
        {
          file: 'variables.tf',
          from: 'var.audit_retention_days >= 2192',
          to: 'var.audit_retention_days >= 2190',
        },
      ],
    },
  ],
  secretsMountedAndPinned: [
    {
      name: 'secrets mounted as latest',
      edits: [
        {
          file: 'functions.tf',
          from: 'version = tostring(secret_environment_variables.value.version)',
          to: 'version = "latest"',
        },
      ],
    },
    {
      name: 'the webhook secrets mounted where callbacks are checked, not only where they are sent',
      edits: [
        {
          file: 'functions.tf',
          from: '} : env_name => secret if fn.signs_callbacks',
          to: '} : env_name => secret if fn.checks_callbacks',
        },
      ],
    },
    {
      name: 'the chain key left out of review-intake',
      edits: [
        { file: 'locals.tf', from: /(review_intake = \{[\s\S]*?writes_audit\s*=) true/, to: '$1 false' },
      ],
    },
    {
      name: 'a version variable typed string',
      edits: [
        {
          file: 'variables.tf',
          from: /(variable "audit_chain_key_version" \{[\s\S]*?type\s*=) number/,
          to: '$1 string',
        },
      ],
    },
  ],
  environmentPerFunction: [
    {
      name: 'MAX_CONCURRENT_REQUESTS from a literal',
      edits: [
        {
          file: 'functions.tf',
          from: 'MAX_CONCURRENT_REQUESTS = tostring(local.function_sizing[key].concurrency)',
          to: 'MAX_CONCURRENT_REQUESTS = "80"',
        },
      ],
    },
    {
      name: 'the callback allowlist missing from review-jobs',
      edits: [
        { file: 'locals.tf', from: /(review_jobs = \{[\s\S]*?checks_callbacks\s*=) true/, to: '$1 false' },
      ],
    },
    {
      name: 'a key id that does not follow the mounted version',
      edits: [
        {
          file: 'secrets.tf',
          from: 'audit_chain_key_id = "v${var.audit_chain_key_version}"',
          to: 'audit_chain_key_id = "v1"',
        },
      ],
    },
  ],
  auditReadersCanVerify: [
    {
      name: 'no Job User for the audit readers',
      edits: [
        {
          file: 'bigquery.tf',
          from: 'role     = "roles/bigquery.jobUser"',
          to: 'role     = "roles/bigquery.user"',
        },
      ],
    },
    {
      name: 'the chain key readable by the readers through another grant too',
      edits: [
        {
          file: 'secrets.tf',
          from: 'secret_id = google_secret_manager_secret.audit_chain_key.secret_id\n  role      = "roles/secretmanager.secretAccessor"\n  member    = each.value',
          to: 'secret_id = google_secret_manager_secret.webhook_secrets.secret_id\n  role      = "roles/secretmanager.secretAccessor"\n  member    = each.value',
        },
      ],
    },
  ],
  alertsWaitForMetrics: [
    {
      name: 'an alert reading the metric name directly',
      edits: [
        {
          file: 'monitoring.tf',
          from: '${time_sleep.log_metrics_visible.triggers["breaker_opened"]}',
          to: '${google_logging_metric.audit_event["breaker_opened"].name}',
        },
      ],
    },
    {
      name: 'a one-minute wait',
      edits: [{ file: 'monitoring.tf', from: 'create_duration = "600s"', to: 'create_duration = "60s"' }],
    },
  ],
  deadLettersKeptAndWatched: [
    {
      name: 'dead letters kept 7 days',
      edits: [
        {
          file: 'pubsub.tf',
          from: 'pubsub_max_retention = "2678400s"',
          to: 'pubsub_max_retention = "604800s"',
        },
      ],
    },
    {
      name: 'no alert on an old dead letter',
      edits: [{ file: 'monitoring.tf', from: 'threshold_value = 86400', to: 'threshold_value = 604800' }],
    },
  ],
  auditWriteFailuresAlerted: [
    {
      name: 'a metric counting another event name',
      edits: [
        {
          file: 'logging.tf',
          from: 'jsonPayload.event=\\"audit_write_failed\\"',
          to: 'jsonPayload.event=\\"audit_write_failure\\"',
        },
      ],
    },
    {
      name: 'the metric split by a field the line does not have',
      edits: [
        { file: 'logging.tf', from: 'EXTRACT(jsonPayload.eventType)', to: 'EXTRACT(jsonPayload.event_type)' },
      ],
    },
    {
      name: 'the alert reading another metric',
      edits: [
        {
          file: 'monitoring.tf',
          from: 'triggers["audit_write_failed"]',
          to: 'triggers["breaker_opened"]',
        },
      ],
    },
  ],
  auditTableSchemaOwnedBySink: [
    {
      name: 'Terraform owning the schema',
      edits: [{ file: 'bigquery.tf', from: '    ignore_changes = [schema]\n', to: '' }],
    },
  ],
  builderScopedToSourceBucket: [
    {
      name: 'object viewer on the whole project',
      edits: [
        {
          file: 'iam.tf',
          from: '    "roles/artifactregistry.writer",\n  ])',
          to: '    "roles/artifactregistry.writer",\n    "roles/storage.objectViewer",\n  ])',
        },
      ],
    },
  ],
  providerVersion: [
    {
      name: 'any 7.x provider',
      edits: [{ file: 'versions.tf', from: /">= 7\.45\.0, < 8\.0\.0"/g, to: '"~> 7.0"' }],
    },
  ],
};

const BOOTSTRAP_MUTATIONS: Record<keyof typeof bootstrapChecks, Mutation[]> = {
  providerSchema: [
    {
      name: 'a misspelt approval block',
      edits: [{ file: 'bootstrap/main.tf', from: 'approval_config {', to: 'approvals_config {' }],
    },
  ],
  planAccountReadOnly: [
    {
      name: 'project IAM admin for the plan account',
      edits: [
        {
          file: 'bootstrap/main.tf',
          from: '"roles/browser",',
          to: '"roles/browser",\n    "roles/resourcemanager.projectIamAdmin",',
        },
      ],
    },
    {
      name: 'secret values readable by the plan account',
      edits: [
        {
          file: 'bootstrap/main.tf',
          from: '"roles/secretmanager.viewer",',
          to: '"roles/secretmanager.secretAccessor",',
        },
      ],
    },
    {
      name: 'project Viewer for the plan account (reads BigQuery datasets and Firestore documents)',
      edits: [{ file: 'bootstrap/main.tf', from: '"roles/browser",', to: '"roles/viewer",' }],
    },
    {
      name: 'state writable by the plan account',
      edits: [
        {
          file: 'bootstrap/main.tf',
          from: /(plan_state" \{\n\s*bucket = var\.state_bucket\n\s*role\s*=) "roles\/storage\.objectViewer"/,
          to: '$1 "roles/storage.objectAdmin"',
        },
      ],
    },
  ],
  triggers: [
    {
      name: 'every branch applies',
      edits: [{ file: 'bootstrap/main.tf', from: 'branch = "^${var.deploy_branch}$"', to: 'branch = ".*"' }],
    },
    {
      name: 'apply without approval',
      edits: [
        { file: 'bootstrap/main.tf', from: 'approval_required = true', to: 'approval_required = false' },
      ],
    },
    {
      name: 'the plan trigger running as the apply account',
      edits: [
        {
          file: 'bootstrap/main.tf',
          from: 'service_account = google_service_account.plan.id',
          to: 'service_account = google_service_account.apply.id',
        },
      ],
    },
  ],
};

let scratch: string;

/** A copy of terraform/ (next to the code it reads) with the edits applied; each edit must apply. */
async function mutated(edits: Edit[], bootstrap: boolean): Promise<TerraformModule> {
  const root = mkdtempSync(path.join(scratch, 'm-'));
  const dir = path.join(root, 'terraform');
  cpSync(TERRAFORM_DIR, dir, { recursive: true, filter: (src) => !src.includes(`${path.sep}.terraform`) });
  symlinkSync(path.join(TERRAFORM_DIR, '..', 'functions'), path.join(root, 'functions'), 'dir');
  symlinkSync(path.join(TERRAFORM_DIR, '..', 'package.json'), path.join(root, 'package.json'));
  for (const edit of edits) {
    const file = path.join(dir, edit.file);
    const before = readFileSync(file, 'utf8');
    const after = before.replace(edit.from, edit.to);
    assert.notEqual(after, before, `mutation does not apply: ${String(edit.from)} in ${edit.file}`);
    writeFileSync(file, after);
  }
  return loadTerraformModule(bootstrap ? path.join(dir, 'bootstrap') : dir);
}

async function expectRefused(check: Check, tf: TerraformModule): Promise<void> {
  await assert.rejects(async () => check(tf), assert.AssertionError);
}

describe('Terraform behaviour checks, each proven by the mutation it catches', function () {
  this.timeout(120_000);

  before(() => {
    scratch = mkdtempSync(path.join(os.tmpdir(), 'terraform-mutations-'));
    loadProviderSchema(); // once: ~100 MB of jsii
  });

  after(() => rmSync(scratch, { recursive: true, force: true }));

  for (const [module, checks, mutations, bootstrap] of [
    ['terraform/', gatewayChecks, GATEWAY_MUTATIONS, false],
    ['terraform/bootstrap/', bootstrapChecks, BOOTSTRAP_MUTATIONS, true],
  ] as const) {
    describe(module, () => {
      let real: TerraformModule;
      before(async () => {
        real = await loadTerraformModule(bootstrap ? path.join(TERRAFORM_DIR, 'bootstrap') : TERRAFORM_DIR);
      });

      for (const [name, check] of Object.entries(checks) as [string, Check][]) {
        it(`${name}: holds`, async () => {
          await check(real);
        });
        const list = (mutations as Record<string, Mutation[]>)[name] ?? [];
        it(`${name}: has at least one mutation`, () => assert.ok(list.length > 0));
        for (const mutation of list) {
          it(`${name}: refuses ${mutation.name}`, async () => {
            await expectRefused(check, await mutated(mutation.edits, bootstrap));
          });
        }
      }
    });
  }
});
