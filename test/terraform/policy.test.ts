// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Terraform interpolations (${...}) are compared as the text hcl2json returns.
/**
 * Policy tests of the Terraform root module: they need no provider download and no Google Cloud project.
 * They prove the wiring that matters for a clinical deployment against the code's own constants: the audit
 * sink selects exactly what the audit sink code writes, each function runs as its own account with no
 * public invoker, dead letters are kept, TTL policies sit on the fields the stores write, audit retention
 * cannot drop under six years, and a secret is readable only where it is mounted.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from '@cdktf/hcl2json';
import type { Firestore } from '@google-cloud/firestore';
import { FirestoreBreakerStore } from '../../functions/src/adapters/firestore/firestoreBreakerStore.js';
import { collections, ttlFields } from '../../functions/src/adapters/firestore/firestoreClient.js';
import { FirestoreLedgerStore } from '../../functions/src/adapters/firestore/firestoreLedgerStore.js';
import { FirestoreOutboxStore } from '../../functions/src/adapters/firestore/firestoreOutboxStore.js';
import { pendingAuditDocument } from '../../functions/src/adapters/firestore/firestorePendingAuditStore.js';
import { createLogger } from '../../functions/src/adapters/logging/structuredLog.js';
import { loadConfig } from '../../functions/src/config.js';
import { DEV_CHAIN_KEY, sealEvent } from '../../functions/src/core/audit/chain.js';
import { AUDIT_LABEL, type AuditEventType, auditEventTypes } from '../../functions/src/core/audit/events.js';
import { IdempotencyLedger } from '../../functions/src/core/idempotency/ledger.js';
import { draft } from '../support/auditEvents.js';
import { auditEvent, entryOf, PROJECT } from './checks.js';
import { fieldOf, logEntryFromStdout, matchesLoggingFilter } from './loggingFilter.js';
import {
  type Body,
  block,
  evaluateReference,
  evaluateTemplate,
  expressionOf,
  loadTerraformModule,
  local,
  references,
  resource,
  resourcesOfType,
  stringsIn,
  TERRAFORM_DIR,
  type TerraformModule,
} from './terraformModule.js';

const auditStream = JSON.parse(
  readFileSync(new URL('../../functions/src/core/audit/auditStream.json', import.meta.url), 'utf8'),
) as { labelKey: string; labelValue: string; bigQueryTable: string; bigQueryLogTable: string };

/** The functions the code base is built to deploy (entry point → Cloud Functions name). */
const EXPECTED_FUNCTIONS = {
  inferenceApi: 'inference-api',
  reviewerApi: 'reviewer-api',
  reviewIntake: 'review-intake',
  reviewJobs: 'review-jobs',
} as const;

type FunctionSpec = {
  name: string;
  entry_point: string;
  service_account_id: string;
  ingress: string;
  invoker_roles: string[];
  writes_audit: boolean;
  calls_models: boolean;
  publishes: string[];
  enqueues: string[];
};

describe('Terraform policy (terraform/*.tf, parsed without providers)', () => {
  let tf: TerraformModule;
  let functions: Record<string, FunctionSpec>;

  before(async () => {
    tf = await loadTerraformModule();
    functions = local(tf, 'functions') as Record<string, FunctionSpec>;
  });

  describe('module hygiene', () => {
    it('pins the google, google-beta, archive and time providers and keeps state in a GCS backend set at init', () => {
      const required = tf.settings.flatMap((s) => (s.required_providers as Body[] | undefined) ?? []);
      const providers = Object.assign({}, ...required) as Record<string, { source: string; version: string }>;
      for (const name of ['google', 'google-beta', 'archive', 'time']) {
        assert.ok(providers[name], `required_providers lacks ${name}`);
        assert.equal(providers[name].source, `hashicorp/${name}`);
        // A major version at most: "~> M.N" or ">= M.N.P, < M+1.0.0".
        assert.match(
          providers[name].version,
          /^(~> \d+\.\d+|>= \d+\.\d+\.\d+, < \d+\.0\.0)$/,
          `${name} must stay within one major version`,
        );
      }
      const backends = tf.settings.flatMap((s) => Object.keys((s.backend as Body | undefined) ?? {}));
      assert.deepEqual(backends, ['gcs']);
      // Partial configuration: bucket and prefix come from `terraform init -backend-config=...`.
      const gcs = tf.settings.find((s) => s.backend)!.backend as { gcs: Body[] };
      assert.deepEqual(gcs.gcs, [{}]);
    });

    it('gives every variable a description and a type', () => {
      assert.ok(tf.variables.size > 0);
      for (const [name, variable] of tf.variables) {
        assert.ok(
          typeof variable.description === 'string' && variable.description.trim().length >= 20,
          `variable ${name} needs a real description`,
        );
        assert.ok(variable.type, `variable ${name} needs a type`);
      }
    });

    it('resolves every reference: variables, locals, resources and data sources exist, and every variable is used', () => {
      const refs = references(tf);
      for (const name of refs.variables) assert.ok(tf.variables.has(name), `var.${name} is not declared`);
      for (const name of refs.locals) assert.ok(tf.locals.has(name), `local.${name} is not defined`);
      for (const address of refs.resources) assert.ok(tf.resources.has(address), `${address} does not exist`);
      for (const address of refs.data) assert.ok(tf.data.has(address), `data.${address} does not exist`);
      for (const name of tf.variables.keys())
        assert.ok(refs.variables.has(name), `variable ${name} is never used`);
      for (const name of tf.locals.keys()) assert.ok(refs.locals.has(name), `local ${name} is never used`);
    });

    it('keeps every API it enables on when the configuration is destroyed', () => {
      assert.equal(resource(tf, 'google_project_service.service').disable_on_destroy, false);
    });
  });

  describe('audit trail', () => {
    const events = auditEventTypes.map((type) => auditEvent(type));

    it('reads the audit label from the file the code reads (one source of truth)', () => {
      assert.equal(
        local(tf, 'audit_stream'),
        '${jsondecode(file("${path.module}/../functions/src/core/audit/auditStream.json"))}',
      );
      assert.deepEqual(evaluateReference(tf, 'local.audit_stream'), auditStream);
      assert.deepEqual(AUDIT_LABEL, { key: auditStream.labelKey, value: auditStream.labelValue });
    });

    it('routes every audit event the code writes to BigQuery, and nothing else', async () => {
      const sink = resource(tf, 'google_logging_project_sink.audit');
      assert.equal(sink.filter, '${local.audit_log_filter}');
      const filter = evaluateTemplate(tf, local(tf, 'audit_log_filter') as string);

      for (const event of events) {
        const entry = await entryOf(event, 'inference-api');
        assert.ok(matchesLoggingFilter(filter, entry), `the sink filter misses ${event.eventType}`);
      }
      // Operational lines, even ones that mention audit words, are not audit entries.
      const lines: string[] = [];
      createLogger('gateway', (line) => lines.push(line)).info('audit inference.completed', {
        eventType: 'x',
      });
      assert.equal(
        matchesLoggingFilter(filter, logEntryFromStdout(lines[0]!, PROJECT, 'inference-api')),
        false,
      );
      // The same label from something that is not one of our Cloud Run functions is not trusted.
      const foreign = await entryOf(events[0]!, 'inference-api');
      foreign.resource = { type: 'gce_instance', labels: {} };
      assert.equal(matchesLoggingFilter(filter, foreign), false);
      const mislabelled = await entryOf(events[0]!, 'inference-api');
      mislabelled.labels[auditStream.labelKey] = `${auditStream.labelValue}-not`;
      assert.equal(matchesLoggingFilter(filter, mislabelled), false);
    });

    it('writes to the audit dataset in partitioned tables, with a writer identity that is Data Editor there only', () => {
      const sink = resource(tf, 'google_logging_project_sink.audit');
      assert.equal(sink.unique_writer_identity, true);
      assert.equal(block(sink, 'bigquery_options').use_partitioned_tables, true);
      assert.equal(
        sink.destination,
        'bigquery.googleapis.com/projects/${var.project_id}/datasets/${google_bigquery_dataset.audit.dataset_id}',
      );
      const dataset = resource(tf, 'google_bigquery_dataset.audit');
      assert.equal(dataset.dataset_id, '${local.audit_dataset_id}');
      assert.equal(evaluateReference(tf, 'local.audit_dataset_id'), auditStream.bigQueryTable);

      const writerGrants = grantsOf(tf, '${google_logging_project_sink.audit.writer_identity}');
      assert.deepEqual(writerGrants, [
        { address: 'google_bigquery_dataset_iam_member.sink_writer', role: 'roles/bigquery.dataEditor' },
      ]);
      assert.equal(
        resource(tf, 'google_bigquery_dataset_iam_member.sink_writer').dataset_id,
        '${google_bigquery_dataset.audit.dataset_id}',
      );
      // No function may write or delete audit data: no BigQuery role for any runtime account.
      for (const role of functionProjectRoles(tf)) assert.doesNotMatch(role, /bigquery/);
    });

    it('pre-creates the sink table from the versioned schema once that schema exists, under the name the code queries', () => {
      const table = resource(tf, 'google_bigquery_table.audit_log');
      assert.equal(table.table_id, '${local.audit_stream.bigQueryLogTable}');
      assert.equal(
        evaluateReference(tf, 'local.audit_stream.bigQueryLogTable'),
        auditStream.bigQueryLogTable,
      );
      assert.equal(table.schema, '${file(local.audit_table_schema_file)}');
      assert.equal(table.deletion_protection, true);
      const partitioning = block(table, 'time_partitioning');
      assert.equal(partitioning.field, 'timestamp');
      assert.equal(partitioning.expiration_ms, '${local.audit_expiration_ms}');
      assert.equal(table.count, '${fileexists(local.audit_table_schema_file) ? 1 : 0}');
      assert.equal(local(tf, 'audit_table_schema_file'), '${path.module}/schemas/audit_events_v1.json');

      // The schema, where it exists, has what the sink and the filters rely on.
      const schemaFile = path.join(TERRAFORM_DIR, 'schemas', 'audit_events_v1.json');
      if (!existsSync(schemaFile)) return;
      type Field = { name: string; type: string; fields?: Field[] };
      const schema = JSON.parse(readFileSync(schemaFile, 'utf8')) as Field[];
      const find = (fields: Field[] | undefined, dotted: string): Field | undefined => {
        const [head, ...rest] = dotted.split('.');
        const field = fields?.find((f) => f.name === head);
        return rest.length === 0 ? field : find(field?.fields, rest.join('.'));
      };
      assert.equal(find(schema, 'timestamp')?.type, 'TIMESTAMP', 'the partitioning column');
      assert.equal(find(schema, `labels.${auditStream.labelKey}`)?.type, 'STRING');
      assert.equal(find(schema, 'labels.event_type')?.type, 'STRING');
      assert.equal(find(schema, 'resource.type')?.type, 'STRING');
    });

    it('never keeps audit data for less than six calendar years', () => {
      // The floor, from dates: 2024-02-29 and 2028-02-29 both fall between these two days.
      const sixYearsDays = (Date.UTC(2029, 0, 1) - Date.UTC(2023, 0, 1)) / 86_400_000;
      const variable = tf.variables.get('audit_retention_days')!;
      assert.equal(variable.default, null, 'the default keeps audit data forever');
      const [validation] = variable.validation as Body[];
      const condition = expressionOf(validation!.condition)!;
      const bound = /^var\.audit_retention_days == null \? true : var\.audit_retention_days >= (\d+)$/.exec(
        condition,
      );
      assert.ok(bound, `unexpected validation: ${condition}`);
      assert.ok(
        Number(bound[1]) >= sixYearsDays,
        `retention floor ${bound[1]} days is under six calendar years`,
      );

      // The expiry BigQuery gets for that floor is exactly those six years, in milliseconds.
      const expiry =
        /^\$\{var\.audit_retention_days == null \? null : var\.audit_retention_days \* (\d+)\}$/.exec(
          String(local(tf, 'audit_expiration_ms')),
        );
      assert.ok(expiry, String(local(tf, 'audit_expiration_ms')));
      assert.equal(Number(bound[1]) * Number(expiry[1]), Date.UTC(2029, 0, 1) - Date.UTC(2023, 0, 1));
      const dataset = resource(tf, 'google_bigquery_dataset.audit');
      assert.equal(dataset.default_table_expiration_ms, '${local.audit_expiration_ms}');
      assert.equal(dataset.default_partition_expiration_ms, '${local.audit_expiration_ms}');
      assert.equal(dataset.delete_contents_on_destroy, false);
      assert.equal((block(dataset, 'lifecycle') as Body).prevent_destroy, true);
      // Nothing else in the module sets an expiry on audit data.
      for (const [address, body] of resourcesOfType(tf, 'google_bigquery_table')) {
        assert.equal(body.expiration_time, undefined, `${address} must not expire`);
      }
      for (const [address, body] of tf.resources) {
        if (address === 'google_bigquery_dataset.audit' || address === 'google_bigquery_table.audit_log')
          continue;
        assert.ok(!JSON.stringify(body).includes('expiration_ms'), `${address} sets an expiry`);
      }
    });

    it('counts breaker openings and overdue reviews with metrics that see exactly those events', async () => {
      const metric = resource(tf, 'google_logging_metric.audit_event');
      assert.equal(metric.for_each, '${local.audit_event_metrics}');
      const specs = local(tf, 'audit_event_metrics') as Record<
        string,
        { event_type: AuditEventType; label: string; label_extractor: string }
      >;
      assert.deepEqual(
        Object.values(specs)
          .map((s) => s.event_type)
          .sort(),
        ['breaker.opened', 'review.escalated'],
      );
      for (const [key, spec] of Object.entries(specs)) {
        assert.ok(auditEventTypes.includes(spec.event_type), `${spec.event_type} is not an audit event type`);
        const filter = evaluateTemplate(tf, metric.filter as string, { each: { key, value: spec } });
        for (const event of events) {
          const entry = await entryOf(event, 'review-jobs');
          assert.equal(
            matchesLoggingFilter(filter, entry),
            event.eventType === spec.event_type,
            `${key} vs ${event.eventType}`,
          );
        }
        // The label the metric is split by is really in the entry of such an event.
        const extracted = /^EXTRACT\(([\w.]+)\)$/.exec(spec.label_extractor);
        assert.ok(extracted, spec.label_extractor);
        const entry = await entryOf(auditEvent(spec.event_type), 'review-jobs');
        assert.equal(
          fieldOf(entry, extracted[1]!.split('.')),
          spec.event_type === 'breaker.opened' ? 'openai' : 'clinical-summary',
        );
      }
    });

    it('alerts on a breaker opening, overdue reviews, dead letters and the function error rate', () => {
      const text = (address: string) => JSON.stringify(resource(tf, address));
      assert.match(
        text('google_monitoring_alert_policy.breaker_opened'),
        /logging\.googleapis\.com\/user\/\$\{time_sleep\.log_metrics_visible\.triggers\[\\"breaker_opened\\"\]\}/,
      );
      assert.match(
        text('google_monitoring_alert_policy.review_overdue'),
        /logging\.googleapis\.com\/user\/\$\{time_sleep\.log_metrics_visible\.triggers\[\\"review_escalated\\"\]\}/,
      );
      assert.match(
        text('google_monitoring_alert_policy.dead_letters'),
        /num_undelivered_messages.*google_pubsub_subscription\.review_dead_letter\.name/,
      );
      assert.match(
        text('google_monitoring_alert_policy.function_error_rate'),
        /response_code_class=\\"5xx\\"/,
      );
      for (const [address, policy] of resourcesOfType(tf, 'google_monitoring_alert_policy')) {
        assert.equal(policy.notification_channels, '${local.notification_channels}', address);
      }
    });
  });

  describe('functions and who may call them', () => {
    it('deploys each entry point the code registers, on nodejs22, from the content-addressed source archive', () => {
      const entryPoints = Object.fromEntries(Object.values(functions).map((f) => [f.entry_point, f.name]));
      assert.deepEqual(entryPoints, EXPECTED_FUNCTIONS);
      const index = readFileSync(new URL('../../functions/src/index.ts', import.meta.url), 'utf8');
      const registered = [...index.matchAll(/\b(?:http|cloudEvent)\(\s*'([A-Za-z0-9]+)'/g)].map((m) => m[1]!);
      assert.ok(registered.length > 0);
      for (const name of registered)
        assert.ok(name in EXPECTED_FUNCTIONS, `${name} is registered but not deployed`);

      const fn = resource(tf, 'google_cloudfunctions2_function.function');
      assert.equal(fn.for_each, '${local.functions}');
      const build = block(fn, 'build_config');
      assert.equal(build.runtime, 'nodejs22');
      assert.equal(build.entry_point, '${each.value.entry_point}');
      assert.equal(
        block(block(build, 'source'), 'storage_source').object,
        '${google_storage_bucket_object.function_source.name}',
      );
      assert.equal(
        resource(tf, 'google_storage_bucket_object.function_source').name,
        'function-source-${data.archive_file.function_source.output_sha256}.zip',
      );
      assert.equal(
        tf.data.get('archive_file.function_source')?.source_dir,
        '${path.module}/../dist/function-source',
      );
    });

    it('runs every function as its own service account', () => {
      const fn = resource(tf, 'google_cloudfunctions2_function.function');
      assert.equal(
        block(fn, 'service_config').service_account_email,
        '${google_service_account.function[each.key].email}',
      );
      assert.equal(resource(tf, 'google_service_account.function').for_each, '${local.functions}');
      assert.equal(
        resource(tf, 'google_service_account.function').account_id,
        '${each.value.service_account_id}',
      );
      const accountIds = [
        ...Object.values(functions).map((f) => f.service_account_id),
        ...resourcesOfType(tf, 'google_service_account')
          .map(([, body]) => body.account_id)
          .filter((id) => typeof id === 'string' && !id.includes('${')),
      ];
      assert.equal(new Set(accountIds).size, accountIds.length, `service account ids repeat: ${accountIds}`);
      for (const id of accountIds) assert.match(String(id), /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/);
    });

    it('grants no public invoker, and only listed principals or our own accounts may invoke', () => {
      const everything = stringsIn([...tf.resources.values(), ...tf.locals.values(), ...tf.outputs.values()]);
      for (const text of everything) assert.doesNotMatch(text, /allUsers|allAuthenticatedUsers/);

      const invoker = resource(tf, 'google_cloud_run_service_iam_member.invoker');
      assert.equal(invoker.for_each, '${local.invoker_bindings}');
      assert.equal(invoker.role, 'roles/run.invoker');
      assert.equal(invoker.member, '${each.value.member}');
      assert.equal(local(tf, 'invoker_bindings'), '${merge(local.public_invokers, local.internal_invokers)}');
      const publicInvokers = expressionOf(local(tf, 'public_invokers'))!;
      assert.match(publicInvokers, /for email, principal in var\.auth_principals/);
      assert.match(publicInvokers, /"serviceAccount:\$\{email\}" : "user:\$\{email\}"/);
      assert.match(
        publicInvokers,
        /if length\(setintersection\(toset\(fn\.invoker_roles\), toset\(principal\.roles\)\)\) > 0/,
      );
      const internal = local(tf, 'internal_invokers') as Record<string, { function: string; member: string }>;
      for (const [key, binding] of Object.entries(internal)) {
        assert.match(binding.member, /^serviceAccount:\$\{google_service_account\.[a-z_]+\.email\}$/, key);
        assert.deepEqual(
          functions[binding.function]?.invoker_roles,
          [],
          `${key}: internal callers only for internal functions`,
        );
      }
      // Exactly one place grants invocation to people and our accounts; besides it, only IAP's service agent
      // may invoke the reviewer service it fronts (terraform/iap.tf), and only when the console is behind IAP.
      const invokerGrants = [...tf.resources].filter(([, body]) => /invoker/.test(String(body.role ?? '')));
      assert.deepEqual(
        invokerGrants.map(([address]) => address),
        ['google_cloud_run_service_iam_member.invoker', 'google_cloud_run_service_iam_member.iap_invoker'],
      );
      const iapInvoker = resource(tf, 'google_cloud_run_service_iam_member.iap_invoker');
      assert.equal(iapInvoker.service, '${local.functions.reviewer_api.name}');
      assert.equal(iapInvoker.member, 'serviceAccount:${google_project_service_identity.iap[0].email}');
    });

    it('keeps the internal functions internal and the public ones to callers with a matching role', () => {
      const expectations: Record<string, { ingress: string; roles: string[] }> = {
        inference_api: { ingress: '${var.public_ingress}', roles: ['clinician', 'admin'] },
        reviewer_api: { ingress: '${var.public_ingress}', roles: ['reviewer', 'admin'] },
        review_intake: { ingress: 'ALLOW_INTERNAL_ONLY', roles: [] },
        review_jobs: { ingress: 'ALLOW_INTERNAL_ONLY', roles: [] },
      };
      for (const [key, expected] of Object.entries(expectations)) {
        assert.equal(functions[key]?.ingress, expected.ingress, key);
        assert.deepEqual(functions[key]?.invoker_roles, expected.roles, key);
      }
      assert.equal(
        block(resource(tf, 'google_cloudfunctions2_function.function'), 'service_config').ingress_settings,
        '${each.value.ingress}',
      );
      // Internal callers use the run.app URL: only there do Scheduler, Tasks and Pub/Sub count as internal.
      const job = block(resource(tf, 'google_cloud_scheduler_job.sweep_review_outbox'), 'http_target');
      assert.equal(job.uri, '${local.function_urls["review_jobs"]}/jobs/sweep-review-outbox');
      assert.equal(job.http_method, 'POST');
      assert.deepEqual(block(job, 'oidc_token'), {
        service_account_email: '${google_service_account.review_scheduler.email}',
        audience: '${local.function_urls["review_jobs"]}',
      });
      const push = block(resource(tf, 'google_pubsub_subscription.review_intake'), 'push_config');
      assert.match(
        String(push.push_endpoint),
        /^\$\{google_cloudfunctions2_function\.function\["review_intake"\]\.service_config\[0\]\.uri\}\//,
      );
      assert.equal(
        block(push, 'oidc_token').service_account_email,
        '${google_service_account.review_push.email}',
      );
      assert.match(String(local(tf, 'function_urls')), /\.run\.app"/);

      const sizing = functions.inference_api as unknown as {
        sizing: { min_instances: number; concurrency: number };
      };
      assert.ok(sizing.sizing.min_instances > 0, 'the inference API keeps warm instances (p95 < 200 ms)');
      assert.ok(sizing.sizing.concurrency > 1);
    });
  });

  describe('Pub/Sub', () => {
    it('names the topics the code publishes to', () => {
      assert.deepEqual(local(tf, 'topics'), {
        review_requests: 'review-requests',
        review_dead_letter: 'review-requests-dead-letter',
        review_escalations: 'review-escalations',
        review_events: 'review-events',
        review_events_dead_letter: 'review-events-dead-letter',
      });
      const env = local(tf, 'managed_environment') as Record<string, string>;
      assert.equal(env.REVIEW_TOPIC, '${google_pubsub_topic.topic["review_requests"].name}');
      assert.equal(env.REVIEW_DEAD_LETTER_TOPIC, '${google_pubsub_topic.topic["review_dead_letter"].name}');
      assert.equal(env.ESCALATION_TOPIC, '${google_pubsub_topic.topic["review_escalations"].name}');
      assert.equal(env.REVIEW_EVENTS_TOPIC, '${google_pubsub_topic.topic["review_events"].name}');
    });

    it('dead-letters failed review requests to a topic whose subscription keeps them', () => {
      const deadLetterTopic = '${google_pubsub_topic.topic["review_dead_letter"].id}';
      const intake = resource(tf, 'google_pubsub_subscription.review_intake');
      assert.equal(intake.topic, '${google_pubsub_topic.topic["review_requests"].id}');
      const policy = block(intake, 'dead_letter_policy');
      assert.equal(policy.dead_letter_topic, deadLetterTopic);
      assert.equal(policy.max_delivery_attempts, '${var.dead_letter_max_delivery_attempts}');
      assert.match(
        String(block(intake, 'push_config').push_endpoint),
        /google_cloudfunctions2_function\.function\["review_intake"\]/,
      );

      const holders = resourcesOfType(tf, 'google_pubsub_subscription').filter(
        ([, s]) => s.topic === deadLetterTopic,
      );
      assert.equal(holders.length, 1, 'the dead-letter topic needs exactly one subscription');
      const [, holder] = holders[0]!;
      assert.equal(
        seconds(evaluateReference(tf, expressionOf(holder.message_retention_duration)!)),
        31 * 86400,
        'dead letters are kept as long as Pub/Sub allows (31 days)',
      );
      assert.equal(block(holder, 'expiration_policy').ttl, '', 'the dead-letter subscription never expires');
    });

    it('lets the Pub/Sub service agent publish dead letters and acknowledge them on the source', () => {
      assert.equal(
        local(tf, 'pubsub_service_agent'),
        'serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com',
      );
      const publish = resource(tf, 'google_pubsub_topic_iam_member.dead_letter_publisher');
      assert.deepEqual(
        [publish.topic, publish.role, publish.member],
        [
          '${google_pubsub_topic.topic["review_dead_letter"].name}',
          'roles/pubsub.publisher',
          '${local.pubsub_service_agent}',
        ],
      );
      const subscribe = resource(tf, 'google_pubsub_subscription_iam_member.dead_letter_source_subscriber');
      assert.deepEqual(
        [subscribe.subscription, subscribe.role, subscribe.member],
        [
          '${google_pubsub_subscription.review_intake.name}',
          'roles/pubsub.subscriber',
          '${local.pubsub_service_agent}',
        ],
      );
    });
  });

  describe('Firestore', () => {
    it('puts TTL policies exactly on the fields the code declares for them', () => {
      const policies = Object.values(
        local(tf, 'firestore_ttl_policies') as Record<string, { collection: string; field: string }>,
      );
      const declared = Object.entries(ttlFields).map(([collection, field]) => ({ collection, field }));
      assert.deepEqual(
        [...policies].sort((a, b) => a.collection.localeCompare(b.collection)),
        [...declared].sort((a, b) => a.collection.localeCompare(b.collection)),
      );
      const field = resource(tf, 'google_firestore_field.ttl');
      assert.equal(field.for_each, '${local.firestore_ttl_policies}');
      assert.deepEqual(field.ttl_config, [{}]);
    });

    it('the stores write those TTL fields as timestamps', async () => {
      const writes: Write[] = [];
      const db = recordingFirestore(writes);
      const now = new Date('2026-03-01T12:00:00Z');
      const ttlMs = 24 * 3_600_000;
      const ledger = new IdempotencyLedger(new FirestoreLedgerStore(db), {
        ttlMs,
        leaseMs: 30_000,
        clock: () => now.getTime(),
      });
      await ledger.claim('acme', 'key-1', 'fingerprint');
      await new FirestoreBreakerStore(db).addCounts([
        {
          provider: 'openai',
          generation: 1,
          bucketStart: now.getTime(),
          shard: 0,
          counts: { requests: 1, failures: 0 },
          expiresAt: now.getTime() + 120_000,
        },
      ]);
      await new FirestoreOutboxStore(db).markDelivered('out_1', now);
      // The pending copy of an audit event is written inside the stores' own commits, by this function.
      const event = sealEvent(draft(), null, DEV_CHAIN_KEY);
      writes.push({
        collection: collections.auditPending,
        id: event.eventId,
        data: pendingAuditDocument(event),
      });

      for (const [collection, field] of Object.entries(ttlFields)) {
        const written = writes.filter((w) => w.collection === collection);
        assert.ok(written.length > 0, `no write to ${collection} observed`);
        for (const w of written) {
          const value = w.data[field] as { toDate?: () => Date } | Date | undefined;
          const at = value instanceof Date ? value : value?.toDate?.();
          assert.ok(at instanceof Date && at > now, `${collection}.${field} must be a future timestamp`);
        }
      }
      const ledgerWrite = writes.find((w) => w.collection === collections.idempotencyKeys)!;
      assert.equal((ledgerWrite.data[ttlFields.idempotencyKeys] as Date).getTime(), now.getTime() + ttlMs);
    });

    it('indexes only collections the code uses, and protects the database', () => {
      const indexes = local(tf, 'firestore_indexes') as Record<
        string,
        { collection: string; fields: string[][] }
      >;
      const known = new Set<string>(Object.values(collections));
      for (const [key, index] of Object.entries(indexes)) {
        assert.ok(known.has(index.collection), `${key}: ${index.collection} is not a collection of the code`);
        for (const [, order] of index.fields) assert.match(order!, /^(ASCENDING|DESCENDING)$/);
      }
      const shapes = Object.values(indexes).map(
        (i) => `${i.collection}(${i.fields.map((f) => f[0]).join(',')})`,
      );
      for (const needed of [
        'reviews(tenant,state,createdAt)',
        'reviewOutbox(published,createdAt)',
        'inferences(tenant,createdAt)',
      ]) {
        assert.ok(shapes.includes(needed), `missing index ${needed}`);
      }
      const db = resource(tf, 'google_firestore_database.main');
      assert.equal(db.type, 'FIRESTORE_NATIVE');
      assert.equal(db.point_in_time_recovery_enablement, 'POINT_IN_TIME_RECOVERY_ENABLED');
      assert.equal(db.delete_protection_state, 'DELETE_PROTECTION_ENABLED');
      assert.equal(db.deletion_policy, 'ABANDON');
    });
  });

  describe('secrets', () => {
    it('makes a secret readable only by the functions that mount it', () => {
      const accessor = resource(tf, 'google_secret_manager_secret_iam_member.accessor');
      assert.equal(accessor.for_each, '${local.secret_bindings}');
      assert.equal(accessor.role, 'roles/secretmanager.secretAccessor');
      assert.equal(
        accessor.secret_id,
        '${local.function_secrets[each.value.function][each.value.env_name].secret}',
      );
      assert.equal(
        accessor.member,
        'serviceAccount:${google_service_account.function[each.value.function].email}',
      );
      assert.match(
        expressionOf(local(tf, 'secret_bindings'))!,
        /for key, secrets in local\.function_secrets/,
      );

      const serviceConfig = block(resource(tf, 'google_cloudfunctions2_function.function'), 'service_config');
      const secretEnv = block(serviceConfig.dynamic as Body, 'secret_environment_variables');
      assert.equal(secretEnv.for_each, '${local.function_secrets[each.key]}');

      // Which function mounts which secret, at which version: checks.ts secretsMountedAndPinned.

      // Provider keys reach the inference API only; the audit key every function (config.ts requires it).
      assert.deepEqual(
        Object.entries(functions)
          .filter(([, f]) => f.calls_models)
          .map(([key]) => key),
        ['inference_api'],
      );
      for (const [key, f] of Object.entries(functions)) assert.equal(f.writes_audit, true, key);

      // No other grant of secret access anywhere (but the audit readers' on the chain key, checks.ts
      // auditReadersCanVerify): not at project level, not on a secret.
      for (const [address, body] of tf.resources) {
        if (address === 'google_secret_manager_secret_iam_member.accessor') continue;
        if (address === 'google_secret_manager_secret_iam_member.audit_chain_verifier') continue;
        assert.doesNotMatch(
          JSON.stringify(body),
          /secretmanager\.(secretAccessor|admin)|roles\/owner|roles\/editor/,
          address,
        );
      }
      for (const role of functionProjectRoles(tf)) assert.doesNotMatch(role, /secretmanager|owner|editor/);
    });
  });

  describe('the environment the functions get', () => {
    it('names only settings the code reads', () => {
      const source = readFileSync(new URL('../../functions/src/config.ts', import.meta.url), 'utf8');
      const managed = Object.keys(local(tf, 'managed_environment') as Record<string, string>);
      const perFunction = ['AUTH_AUDIENCE', 'MAX_CONCURRENT_REQUESTS', 'CALLBACK_ALLOWED_ORIGINS'];
      const secrets = ['AUDIT_HMAC_KEY', 'AUDIT_CHAIN_KEY', 'WEBHOOK_SECRETS'];
      for (const name of [...managed, ...perFunction, ...secrets]) {
        assert.match(source, new RegExp(`\\b${name}: `), `config.ts does not read ${name}`);
      }
    });

    it("passes the functions' own configuration checks, for every function, with the example variables", async () => {
      const example = (await parse(
        'example.tfvars',
        readFileSync(path.join(TERRAFORM_DIR, 'example.tfvars'), 'utf8'),
      )) as Record<string, unknown> & { provider_api_key_secrets: Record<string, string> };
      assert.equal(
        String(local(tf, 'function_urls')).replace(/\s+/g, ' '),
        '${{ for key, fn in local.functions : key => "https://${fn.name}-${data.google_project.this.number}.${var.region}.run.app" }}',
      );
      for (const [key, fn] of Object.entries(functions)) {
        const env = productionEnvironment(tf, example, functions);
        env.AUTH_AUDIENCE = functionUrl(example, fn.name);
        env.AUDIT_HMAC_KEY = 'a-test-key-of-sufficient-length';
        env.AUDIT_CHAIN_KEY = 'a-test-chain-key-of-sufficient-length';
        if (fn.calls_models) {
          for (const name of Object.keys(example.provider_api_key_secrets)) env[name] = 'sk-test';
        }
        const config = loadConfig(env);
        assert.equal(config.env, 'production', key);
        assert.equal(config.auth.mode, 'google', key);
        assert.equal(config.tasks.mode, 'cloud', key);
        assert.equal(config.tasks.jobsUrl, functionUrl(example, 'review-jobs'), key);
        assert.equal(
          config.review.intakeSubscription,
          evaluateReference(tf, 'local.subscriptions.review_intake'),
        );
        // Every apiKeyEnv the routing names is mounted from a secret.
        for (const provider of Object.values(config.routing.providers)) {
          if ('apiKeyEnv' in provider && provider.apiKeyEnv) {
            assert.ok(
              provider.apiKeyEnv in example.provider_api_key_secrets,
              `${provider.apiKeyEnv} has no secret`,
            );
          }
        }
      }
    });
  });
});

const PROJECT_NUMBER = '123456789012';
const functionUrl = (vars: Record<string, unknown>, name: string) =>
  `https://${name}-${PROJECT_NUMBER}.${vars.region}.run.app`;

/**
 * local.managed_environment with the example variables, as the functions would see it. Each expression
 * shape is resolved explicitly (resource names from the module's own literals); an unknown shape throws,
 * so a new setting gets a look here before it can pass.
 */
function productionEnvironment(
  tf: TerraformModule,
  vars: Record<string, unknown>,
  functions: Record<string, FunctionSpec>,
): NodeJS.ProcessEnv {
  const variable = (name: string): unknown => (name in vars ? vars[name] : tf.variables.get(name)?.default);
  const accountEmail = (name: string) =>
    `${resource(tf, `google_service_account.${name}`).account_id}@${vars.project_id}.iam.gserviceaccount.com`;
  const patterns: [RegExp, (m: RegExpExecArray) => string][] = [
    [/^var\.(\w+)$/, (m) => String(variable(m[1]!))],
    [/^tostring\(var\.(\w+)\)$/, (m) => String(variable(m[1]!))],
    [/^jsonencode\(var\.(\w+)\)$/, (m) => JSON.stringify(variable(m[1]!))],
    [/^jsonencode\(jsondecode\(var\.(\w+)\)\)$/, (m) => JSON.stringify(JSON.parse(String(variable(m[1]!))))],
    [/^local\.gateway_version$/, () => '0.1.0+0123456789ab'],
    [/^local\.function_urls\["(\w+)"\]$/, (m) => functionUrl(vars, functions[m[1]!]!.name)],
    [/^local\.[\w.]+$/, (m) => String(evaluateReference(tf, m[0]))],
    [
      /^google_pubsub_topic\.topic\["(\w+)"\]\.name$/,
      (m) => String(evaluateReference(tf, `local.topics.${m[1]}`)),
    ],
    [
      /^google_cloud_tasks_queue\.queue\["(\w+)"\]\.name$/,
      (m) => String(evaluateReference(tf, `local.queues.${m[1]}`)),
    ],
    [/^google_service_account\.(\w+)\.email$/, (m) => accountEmail(m[1]!)],
  ];
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(local(tf, 'managed_environment') as Record<string, unknown>)) {
    const expr = expressionOf(value);
    if (expr === null) {
      env[name] = String(value);
      continue;
    }
    const match = patterns.map(([re, f]) => [re.exec(expr), f] as const).find(([m]) => m !== null);
    assert.ok(match, `${name}: no resolver for ${expr}`);
    env[name] = match[1](match[0]!);
  }
  return env;
}

/** Resources granting `member` something, with the role. */
function grantsOf(tf: TerraformModule, member: string): { address: string; role: unknown }[] {
  return [...tf.resources]
    .filter(
      ([, body]) => body.member === member || (Array.isArray(body.members) && body.members.includes(member)),
    )
    .map(([address, body]) => ({ address, role: body.role }));
}

/** Every literal role in the function project-role list. */
function functionProjectRoles(tf: TerraformModule): string[] {
  return [...expressionOf(local(tf, 'function_project_roles'))!.matchAll(/"(roles\/[\w.]+)"/g)].map(
    (m) => m[1]!,
  );
}

function seconds(duration: unknown): number {
  const m = /^(\d+)s$/.exec(String(duration));
  assert.ok(m, `not a duration: ${duration}`);
  return Number(m[1]);
}

type Write = { collection: string; id: string; data: Record<string, unknown> };

/**
 * The few Firestore calls the stores make to write, recorded instead of sent: enough to see which fields a
 * store writes, without an emulator.
 */
function recordingFirestore(writes: Write[]): Firestore {
  const ref = (collection: string, id: string) => {
    const record = async (data: Record<string, unknown>) => {
      writes.push({ collection, id, data });
      // A WriteResult: the ledger keeps the claim's write time as its version.
      return { writeTime: { toMillis: () => 0 } };
    };
    return {
      collection,
      id,
      get: async () => ({ exists: false, data: () => undefined }),
      create: record,
      set: record,
      update: record,
    };
  };
  return {
    collection: (name: string) => ({ doc: (id: string) => ref(name, id) }),
    batch: () => ({
      set: (target: { collection: string; id: string }, data: Record<string, unknown>) => {
        writes.push({ collection: target.collection, id: target.id, data });
      },
      commit: async () => [],
    }),
    // The ledger's claims go out through a BulkWriter (adapters/firestore/coalescedCalls.ts).
    bulkWriter: () => ({
      onWriteError: () => undefined,
      create: async (target: { collection: string; id: string }, data: Record<string, unknown>) => {
        writes.push({ collection: target.collection, id: target.id, data });
        return { writeTime: { toMillis: () => 0 } };
      },
      close: async () => undefined,
    }),
  } as unknown as Firestore;
}
