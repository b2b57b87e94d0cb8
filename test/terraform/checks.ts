// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Terraform interpolations (${...}) are compared as the text hcl2json returns.
/**
 * Behaviour checks of the Terraform modules (terraform/ and terraform/bootstrap/), written so that each can
 * run on a mutated copy: `checks.test.ts` runs every check on the real modules, and on copies with one
 * mutation each, which the named check must refuse. A check throws (an AssertionError) when the module
 * would deploy something wrong; it reads values (resolved from the module's literals and variable
 * defaults), not the spelling of expressions, wherever the module allows it.
 */
import assert from 'node:assert/strict';
import { LoggingAuditSink } from '../../functions/src/adapters/audit/loggingAuditSink.js';
import { createLogger } from '../../functions/src/adapters/logging/structuredLog.js';
import { writeAuditEvent } from '../../functions/src/core/audit/auditSink.js';
import { DEV_CHAIN_KEY, sealStandalone } from '../../functions/src/core/audit/chain.js';
import {
  AUDIT_SCHEMA_VERSION,
  type AuditEvent,
  type AuditEventType,
  auditEventTypes,
} from '../../functions/src/core/audit/events.js';
import { fieldOf, type LogEntry, logEntryFromStdout, matchesLoggingFilter } from './loggingFilter.js';
import { schemaProblems } from './providerSchema.js';
import {
  type Body,
  block,
  evaluateReference,
  expressionOf,
  local,
  resource,
  resourcesOfType,
  type TerraformModule,
} from './terraformModule.js';

export const PROJECT = 'acme-clinical-prod';
export const FUNCTION_NAMES = ['inference-api', 'reviewer-api', 'review-intake', 'review-jobs'] as const;

export type FunctionSpec = {
  name: string;
  entry_point: string;
  service_account_id: string;
  ingress: string;
  invoker_roles: string[];
  writes_audit: boolean;
  calls_models: boolean;
  sheds_load: boolean;
  checks_callbacks: boolean;
  signs_callbacks: boolean;
  publishes: string[];
  enqueues: string[];
  sizing: { min_instances: number; max_instances: number; concurrency: number; timeout_seconds: number };
};

export const functionsOf = (tf: TerraformModule) => local(tf, 'functions') as Record<string, FunctionSpec>;

/** The API limits the module's values must respect. */
export const LIMITS = {
  pubsubAckDeadlineSeconds: { min: 10, max: 600 },
  schedulerAttemptDeadlineSeconds: { min: 15, max: 1800 },
  pubsubMaxRetentionSeconds: 31 * 86_400,
} as const;

// ---------------------------------------------------------------------------------------------------------
// Audit entries as Cloud Logging stores them

export function auditEvent(eventType: AuditEventType): AuditEvent {
  const breaker = eventType.startsWith('breaker.');
  return sealStandalone(
    {
      schemaVersion: AUDIT_SCHEMA_VERSION,
      eventId: `evt_${eventType}`,
      eventType,
      timestamp: '2026-03-01T12:00:00.000Z',
      tenant: breaker ? 'system' : 'acme',
      actor: breaker
        ? { subject: 'gateway', tenant: 'system', role: 'system' }
        : { subject: 'alice', tenant: 'acme', role: 'clinician' },
      inferenceId: breaker ? null : 'inf_1',
      gatewayVersion: 'test',
      trace: null,
      task: breaker ? null : 'clinical-summary',
      decision: null,
      review: null,
      breaker: breaker
        ? {
            provider: 'openai',
            from: 'closed',
            to: 'open',
            windowRequests: 40,
            windowFailures: 10,
            errorRate: 0.25,
          }
        : null,
    },
    DEV_CHAIN_KEY,
  );
}

/** The LogEntry Cloud Logging stores for `event` written by the code's audit sink on a function's stdout. */
export async function entryOf(event: AuditEvent, serviceName: string): Promise<LogEntry> {
  const lines: string[] = [];
  const sink = new LoggingAuditSink({
    project: PROJECT,
    toStdout: true,
    file: null,
    write: (l) => lines.push(l),
  });
  await sink.write(event);
  assert.equal(lines.length, 1);
  return logEntryFromStdout(lines[0]!, PROJECT, serviceName);
}

/** An operational (non-audit) line, even one that mentions audit words. */
export function operationalEntry(serviceName: string): LogEntry {
  const lines: string[] = [];
  createLogger('gateway', (line) => lines.push(line)).info('audit inference.completed', { eventType: 'x' });
  return logEntryFromStdout(lines[0]!, PROJECT, serviceName);
}

/**
 * The LogEntry of the line the gateway writes when an audit event cannot be written: the code's own helper
 * (writeAuditEvent) with a failing sink, reported through the gateway's logger at ERROR, as gateway.ts does.
 */
export async function lostAuditEventEntry(eventType: AuditEventType, serviceName: string): Promise<LogEntry> {
  const lines: string[] = [];
  const logger = createLogger('gateway', (line) => lines.push(line));
  const failing = { write: () => Promise.reject(new Error('sink down')) };
  await writeAuditEvent(failing, auditEvent(eventType), (message, fields) => logger.error(message, fields));
  assert.equal(lines.length, 1);
  return logEntryFromStdout(lines[0]!, PROJECT, serviceName);
}

// ---------------------------------------------------------------------------------------------------------
// Resolving values

/** `${local.function_sizing["KEY"].FIELD}` (with the module's defaults) or a literal number. */
function sizingValue(tf: TerraformModule, value: unknown): number {
  if (typeof value === 'number') return value;
  const m = /^\$\{local\.function_sizing\["(\w+)"\]\.(\w+)\}(s?)$/.exec(String(value));
  assert.ok(m, `cannot resolve ${JSON.stringify(value)}`);
  const fn = functionsOf(tf)[m[1]!];
  assert.ok(fn, `no function ${m[1]}`);
  return Number((fn.sizing as Record<string, number>)[m[2]!]);
}

function seconds(tf: TerraformModule, duration: unknown): number {
  const text = expressionOf(duration)
    ? String(evaluateReference(tf, expressionOf(duration)!))
    : String(duration);
  const m = /^(\d+)s$/.exec(text);
  assert.ok(m, `not a duration: ${text}`);
  return Number(m[1]);
}

/** The body of `{ for NAME, VALUE in { … } : … if fn.FLAG }` groups of a per-function merge. */
type Group = { flag: string; entries: Record<string, string> };

function mergeGroups(expression: string): Group[] {
  const groups: Group[] = [];
  const literal =
    /\{\s*for \w+, \w+ in \{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}\s*:\s*\w+ => \w+ if fn\.(\w+)\s*\}/g;
  for (const m of expression.matchAll(literal)) {
    const entries: Record<string, string> = {};
    for (const line of m[1]!.matchAll(/([A-Z][A-Z0-9_]*)\s*=\s*(\{[^{}]*\}|[^\n]+)/g))
      entries[line[1]!] = line[2]!.trim();
    groups.push({ flag: m[2]!, entries });
  }
  return groups;
}

/** Env var → function keys that get it, from a per-function `merge` of flag-guarded groups. */
function flaggedNames(
  tf: TerraformModule,
  localName: string,
): Map<string, { functions: string[]; value: string }> {
  const expression = expressionOf(local(tf, localName));
  assert.ok(expression, `${localName} is not an expression`);
  const functions = functionsOf(tf);
  const result = new Map<string, { functions: string[]; value: string }>();
  for (const group of mergeGroups(expression)) {
    for (const [name, value] of Object.entries(group.entries)) {
      const holders = Object.entries(functions)
        .filter(([, fn]) => (fn as Record<string, unknown>)[group.flag] === true)
        .map(([key]) => key)
        .sort();
      result.set(name, { functions: holders, value });
    }
  }
  return result;
}

/** Mounted secrets per env var: which functions, which secret resource, which version expression. */
export function secretMounts(
  tf: TerraformModule,
): Map<string, { functions: string[]; secret: string; version: string }> {
  const mounts = new Map<string, { functions: string[]; secret: string; version: string }>();
  for (const [name, { functions, value }] of flaggedNames(tf, 'function_secrets')) {
    const m =
      /^\{\s*secret\s*=\s*google_secret_manager_secret\.(\w+)\.secret_id,\s*version\s*=\s*([\w.]+)\s*\}$/.exec(
        value,
      );
    assert.ok(m, `${name}: unexpected secret mount ${value}`);
    mounts.set(name, { functions, secret: m[1]!, version: m[2]! });
  }
  const expression = expressionOf(local(tf, 'function_secrets'))!;
  const provider =
    /for env_name, (\w+) in var\.provider_api_key_secrets :\s*env_name => \{ secret = google_secret_manager_secret\.provider_api_key\[env_name\]\.secret_id, version = (\1\.version) \} if fn\.(\w+)/.exec(
      expression,
    );
  assert.ok(provider, 'function_secrets: the provider keys group is not in the expected form');
  const holders = Object.entries(functionsOf(tf))
    .filter(([, fn]) => (fn as Record<string, unknown>)[provider[3]!] === true)
    .map(([key]) => key);
  mounts.set('(provider keys)', {
    functions: holders,
    secret: 'provider_api_key',
    version: 'provider_api_key_secrets[*].version',
  });
  return mounts;
}

/** Project roles every function holds whatever its flags (the first list of the concat). */
function unconditionalFunctionRoles(tf: TerraformModule): string[] {
  const expression = expressionOf(local(tf, 'function_project_roles'))!;
  const m = /for role in concat\(\s*\[([^\]]*)\]/.exec(expression);
  assert.ok(m, 'function_project_roles: expected `for role in concat([...], ...)`');
  return [...m[1]!.matchAll(/"(roles\/[\w.]+)"/g)].map((r) => r[1]!);
}

const rolesOfSet = (value: unknown): string[] => {
  const text = expressionOf(value) ?? '';
  return [...text.matchAll(/"(roles\/[\w.]+)"/g)].map((m) => m[1]!);
};

/** The most days any six consecutive calendar years hold (a window with two 29 Februaries). */
export function sixCalendarYearsDays(): number {
  let most = 0;
  for (let year = 2000; year < 2028; year++) {
    for (const [month, day] of [
      [0, 1],
      [1, 28],
      [2, 1],
      [11, 31],
    ] as const) {
      const from = Date.UTC(year, month, day);
      const to = Date.UTC(year + 6, month, day);
      most = Math.max(most, Math.round((to - from) / 86_400_000));
    }
  }
  return most;
}

// ---------------------------------------------------------------------------------------------------------
// The checks

export type Check = (tf: TerraformModule) => void | Promise<void>;

export const gatewayChecks = {
  /** Every argument and block against hashicorp/google's published schema. */
  providerSchema(tf) {
    assert.deepEqual(schemaProblems(tf), []);
  },

  /** Every function reads and writes Firestore (ledger, reviews, audit chain heads): datastore.user. */
  functionsReachFirestore(tf) {
    const roles = unconditionalFunctionRoles(tf);
    assert.ok(
      roles.some((r) => r === 'roles/datastore.user' || r === 'roles/datastore.owner'),
      `every function needs Firestore read/write; unconditional roles: ${roles.join(', ')}`,
    );
    const grant = resource(tf, 'google_project_iam_member.function');
    assert.equal(grant.for_each, '${local.function_project_roles}');
    assert.equal(
      grant.member,
      'serviceAccount:${google_service_account.function[each.value.function].email}',
    );
  },

  /** Deadlines derived from function timeouts stay inside what Pub/Sub and Cloud Scheduler accept. */
  deadlinesWithinApiLimits(tf) {
    for (const [address, subscription] of resourcesOfType(tf, 'google_pubsub_subscription')) {
      const ack = sizingValue(tf, subscription.ack_deadline_seconds);
      const { min, max } = LIMITS.pubsubAckDeadlineSeconds;
      assert.ok(ack >= min && ack <= max, `${address}: ack_deadline_seconds ${ack} outside ${min}-${max}`);
      if (subscription.message_retention_duration !== undefined) {
        const kept = seconds(tf, subscription.message_retention_duration);
        assert.ok(kept <= LIMITS.pubsubMaxRetentionSeconds, `${address}: retention ${kept} s over 31 days`);
      }
    }
    const job = resource(tf, 'google_cloud_scheduler_job.sweep_review_outbox');
    const attempt = sizingValue(tf, job.attempt_deadline);
    const { min, max } = LIMITS.schedulerAttemptDeadlineSeconds;
    assert.ok(attempt >= min && attempt <= max, `attempt_deadline ${attempt} s outside ${min}-${max}`);
    // The same bounds guard the values a variable override produces (checked at plan time).
    const pre = (address: string) =>
      JSON.stringify((block(resource(tf, address), 'lifecycle') as Body).precondition ?? []);
    assert.match(pre('google_pubsub_subscription.review_intake'), />= 10 && .* <= 600/);
    assert.match(pre('google_cloud_scheduler_job.sweep_review_outbox'), />= 15 && .* <= 1800/);
  },

  /** The sink takes the audit entries of our four functions' stdout, and nothing anyone else writes. */
  async auditSinkTakesOnlyOurStdout(tf) {
    const sink = resource(tf, 'google_logging_project_sink.audit');
    assert.equal(sink.filter, '${local.audit_log_filter}');
    assert.equal(sink.unique_writer_identity, true);
    const filter = String(evaluateReference(tf, 'local.audit_log_filter'));
    for (const service of FUNCTION_NAMES) {
      for (const type of auditEventTypes) {
        assert.ok(
          matchesLoggingFilter(filter, await entryOf(auditEvent(type), service)),
          `misses ${type} of ${service}`,
        );
      }
    }
    const forged = async (change: (e: LogEntry) => void) => {
      const entry = await entryOf(auditEvent('inference.completed'), 'inference-api');
      change(entry);
      return matchesLoggingFilter(filter, entry);
    };
    assert.equal(await forged((e) => (e.logName = `projects/${PROJECT}/logs/forged`)), false, 'another log');
    assert.equal(
      await forged((e) => (e.resource.labels.service_name = 'other-service')),
      false,
      'another service',
    );
    assert.equal(
      await forged((e) => (e.resource = { type: 'global', labels: {} })),
      false,
      'another resource',
    );
    assert.equal(await forged((e) => (e.labels.audit_stream = 'x')), false, 'another label');
    assert.equal(
      matchesLoggingFilter(filter, operationalEntry('inference-api')),
      false,
      'an operational line',
    );
    // Only this sink's own writer identity may write to the dataset.
    const writers = [...resourcesOfType(tf, 'google_bigquery_dataset_iam_member')].filter(
      ([, b]) => !/dataViewer/.test(String(b.role)),
    );
    assert.deepEqual(
      writers.map(([, b]) => b.member),
      ['${google_logging_project_sink.audit.writer_identity}'],
    );
  },

  /** No audit entry reaches the _Default bucket; the metrics still count them. */
  async auditEntriesNotInDefault(tf) {
    const exclusions = resourcesOfType(tf, 'google_logging_project_exclusion');
    assert.ok(exclusions.length > 0, 'no exclusion from the _Default sink');
    const excluded = (entry: LogEntry) =>
      exclusions.some(([, body]) => {
        const expr = expressionOf(body.filter);
        const filter = expr ? String(evaluateReference(tf, expr)) : String(body.filter);
        return matchesLoggingFilter(filter, entry);
      });
    for (const type of auditEventTypes) {
      for (const service of [...FUNCTION_NAMES, 'anything-else']) {
        assert.ok(
          excluded(await entryOf(auditEvent(type), service)),
          `${type} from ${service} stays in _Default`,
        );
      }
    }
    assert.equal(
      excluded(operationalEntry('inference-api')),
      false,
      'operational lines must stay in _Default',
    );
    for (const [address, metric] of resourcesOfType(tf, 'google_logging_metric')) {
      assert.equal(
        metric.bucket_name,
        undefined,
        `${address}: a bucket-scoped metric sees no excluded entry`,
      );
    }
  },

  /** Six calendar years, leap days included, is the floor of audit retention. */
  retentionSixCalendarYears(tf) {
    const floor = sixCalendarYearsDays();
    assert.equal(floor, 2192);
    const variable = tf.variables.get('audit_retention_days')!;
    assert.equal(variable.default, null, 'the default keeps audit data forever');
    const condition = expressionOf((variable.validation as Body[])[0]!.condition)!;
    const bound = /var\.audit_retention_days >= (\d+)$/.exec(condition);
    assert.ok(bound, condition);
    assert.ok(
      Number(bound[1]) >= floor,
      `retention floor ${bound[1]} days is under six calendar years (${floor})`,
    );
    assert.equal(
      local(tf, 'audit_expiration_ms'),
      '${var.audit_retention_days == null ? null : var.audit_retention_days * 86400000}',
    );
  },

  /** Each function mounts what it uses, at a pinned numeric version, and nothing else. */
  secretsMountedAndPinned(tf) {
    const mounts = secretMounts(tf);
    const all = ['inference_api', 'review_intake', 'review_jobs', 'reviewer_api'];
    const expected: Record<string, { functions: string[]; secret: string; version: string }> = {
      AUDIT_HMAC_KEY: { functions: all, secret: 'audit_hmac_key', version: 'var.audit_hmac_key_version' },
      AUDIT_CHAIN_KEY: { functions: all, secret: 'audit_chain_key', version: 'var.audit_chain_key_version' },
      WEBHOOK_SECRETS: {
        functions: ['review_jobs'],
        secret: 'webhook_secrets',
        version: 'var.webhook_secrets_version',
      },
      '(provider keys)': {
        functions: ['inference_api'],
        secret: 'provider_api_key',
        version: 'provider_api_key_secrets[*].version',
      },
    };
    assert.deepEqual(Object.fromEntries(mounts), expected);
    for (const name of ['audit_hmac_key_version', 'audit_chain_key_version', 'webhook_secrets_version']) {
      const variable = tf.variables.get(name);
      assert.ok(variable, `no variable ${name}`);
      assert.equal(variable.type, '${number}', `${name} must be a number (a pinned version)`);
    }
    assert.match(String(tf.variables.get('provider_api_key_secrets')?.type), /version\s*=\s*number/);
    const secretEnv = block(
      block(resource(tf, 'google_cloudfunctions2_function.function'), 'service_config').dynamic as Body,
      'secret_environment_variables',
    );
    const content = block(secretEnv, 'content');
    assert.equal(
      content.version,
      '${tostring(secret_environment_variables.value.version)}',
      'never "latest"',
    );
    assert.equal(content.secret, '${secret_environment_variables.value.secret}');
    assert.equal(secretEnv.for_each, '${local.function_secrets[each.key]}');
  },

  /** Settings per function: load shedding at the configured concurrency, callback origins, chain key id. */
  environmentPerFunction(tf) {
    const env = flaggedNames(tf, 'function_environment');
    assert.deepEqual(env.get('MAX_CONCURRENT_REQUESTS'), {
      functions: ['inference_api', 'reviewer_api'],
      value: 'tostring(local.function_sizing[key].concurrency)',
    });
    const serviceConfig = block(resource(tf, 'google_cloudfunctions2_function.function'), 'service_config');
    assert.equal(
      serviceConfig.max_instance_request_concurrency,
      '${local.function_sizing[each.key].concurrency}',
    );
    assert.deepEqual(env.get('CALLBACK_ALLOWED_ORIGINS'), {
      functions: ['inference_api', 'review_jobs'],
      value: 'jsonencode(var.callback_allowed_origins)',
    });
    const managed = local(tf, 'managed_environment') as Record<string, string>;
    assert.equal(managed.AUDIT_CHAIN_KEY_ID, '${local.audit_chain_key_id}');
    assert.equal(local(tf, 'audit_chain_key_id'), 'v${var.audit_chain_key_version}');
    assert.equal(evaluateReference(tf, 'local.audit_chain_key_id'), 'v1');
  },

  /** Audit readers can query (Job User), read the dataset, and read the chain key to verify; no one else. */
  auditReadersCanVerify(tf) {
    const readerGrants = [...tf.resources].filter(([, b]) => b.for_each === '${toset(var.audit_readers)}');
    const summary = Object.fromEntries(
      readerGrants.map(([address, b]) => [
        address.split('.')[0],
        `${b.role} on ${b.dataset_id ?? b.secret_id ?? b.project}`,
      ]),
    );
    assert.deepEqual(summary, {
      google_bigquery_dataset_iam_member:
        'roles/bigquery.dataViewer on ${google_bigquery_dataset.audit.dataset_id}',
      google_project_iam_member: 'roles/bigquery.jobUser on ${var.project_id}',
      google_secret_manager_secret_iam_member:
        'roles/secretmanager.secretAccessor on ${google_secret_manager_secret.audit_chain_key.secret_id}',
    });
    for (const [address, body] of tf.resources) {
      if (
        [
          'google_secret_manager_secret_iam_member.accessor',
          'google_secret_manager_secret_iam_member.audit_chain_verifier',
        ].includes(address)
      )
        continue;
      assert.doesNotMatch(
        JSON.stringify(body),
        /secretmanager\.(secretAccessor|admin)|roles\/owner|roles\/editor/,
        address,
      );
    }
  },

  /** Alert policies on log-based metrics wait until new metrics are visible (first apply). */
  alertsWaitForMetrics(tf) {
    const sleeps = resourcesOfType(tf, 'time_sleep');
    assert.equal(sleeps.length, 1);
    const [[sleepAddress, sleep]] = sleeps as [[string, Body]];
    assert.ok(seconds(tf, sleep.create_duration) >= 600, 'the metrics can take ten minutes to appear');
    assert.match(String(sleep.triggers), /google_logging_metric\.audit_event/);
    for (const [address, policy] of resourcesOfType(tf, 'google_monitoring_alert_policy')) {
      for (const text of JSON.stringify(policy).match(/logging\.googleapis\.com\/user\/[^"\\]*/g) ?? []) {
        assert.match(
          text,
          new RegExp(`\\$\\{${sleepAddress.replace('.', '\\.')}\\.triggers\\[`),
          `${address}: ${text}`,
        );
      }
    }
  },

  /** Dead letters are kept 31 days, and one older than a day alerts. */
  deadLettersKeptAndWatched(tf) {
    for (const address of [
      'google_pubsub_subscription.review_dead_letter',
      'google_pubsub_subscription.review_intake',
    ]) {
      assert.equal(seconds(tf, resource(tf, address).message_retention_duration), 31 * 86_400, address);
    }
    const policy = JSON.stringify(resource(tf, 'google_monitoring_alert_policy.dead_letters'));
    assert.match(policy, /oldest_unacked_message_age.*google_pubsub_subscription\.review_dead_letter\.name/);
    const threshold = (resource(tf, 'google_monitoring_alert_policy.dead_letters').conditions as Body[])
      .map((c) => block(c, 'condition_threshold'))
      .find((c) => String(c.filter).includes('oldest_unacked_message_age'));
    assert.ok(threshold && Number(threshold.threshold_value) <= 86_400);
  },

  /**
   * Every audit event the code could not write is counted, from the very line the code logs for it (of any
   * of our functions, any event type), and nothing else is; an alert reads that count.
   */
  async auditWriteFailuresAlerted(tf) {
    const metric = resource(tf, 'google_logging_metric.audit_write_failed');
    const filter = expressionOf(metric.filter)
      ? String(evaluateReference(tf, expressionOf(metric.filter)!))
      : String(metric.filter);
    for (const service of FUNCTION_NAMES) {
      for (const type of auditEventTypes) {
        const entry = await lostAuditEventEntry(type, service);
        assert.ok(matchesLoggingFilter(filter, entry), `misses a lost ${type} of ${service}`);
        const extractor = (metric.label_extractors as Record<string, string> | undefined)?.event_type;
        const extracted = /^EXTRACT\(([\w.]+)\)$/.exec(extractor ?? '');
        assert.ok(extracted, 'the metric is split by event type');
        assert.equal(fieldOf(entry, extracted[1]!.split('.')), type);
        assert.equal(matchesLoggingFilter(filter, await entryOf(auditEvent(type), service)), false);
      }
    }
    assert.equal(matchesLoggingFilter(filter, operationalEntry('inference-api')), false);
    assert.equal(
      matchesLoggingFilter(filter, await lostAuditEventEntry('inference.completed', 'elsewhere')),
      false,
    );
    const policy = resource(tf, 'google_monitoring_alert_policy.audit_write_failed');
    const [condition] = (policy.conditions as Body[]).map((c) => block(c, 'condition_threshold'));
    assert.match(
      String(condition?.filter),
      /logging\.googleapis\.com\/user\/\$\{time_sleep\.log_metrics_visible\.triggers\["audit_write_failed"\]\}/,
    );
    const triggers = String(resource(tf, 'time_sleep.log_metrics_visible').triggers);
    assert.match(triggers, /audit_write_failed = google_logging_metric\.audit_write_failed\.name/);
    assert.equal(condition?.threshold_value, 0, 'one lost event alerts');
    assert.equal(policy.notification_channels, '${local.notification_channels}');
  },

  /** The sink owns the table's columns once it exists. */
  auditTableSchemaOwnedBySink(tf) {
    const lifecycle = block(resource(tf, 'google_bigquery_table.audit_log'), 'lifecycle');
    assert.deepEqual(lifecycle.ignore_changes, ['${schema}']);
    assert.equal(lifecycle.prevent_destroy, true);
  },

  /** The build account: what the build docs list, object admin on the source bucket only. */
  builderScopedToSourceBucket(tf) {
    const projectRoles = rolesOfSet(local(tf, 'builder_project_roles'));
    assert.deepEqual([...projectRoles].sort(), ['roles/artifactregistry.writer', 'roles/logging.logWriter']);
    const bucketGrants = resourcesOfType(tf, 'google_storage_bucket_iam_member').filter(
      ([, b]) => b.member === 'serviceAccount:${google_service_account.function_builder.email}',
    );
    assert.deepEqual(
      bucketGrants.map(([, b]) => [b.bucket, b.role]),
      [['${google_storage_bucket.function_source.name}', 'roles/storage.objectAdmin']],
    );
  },

  /** Provider 7.45 or newer (the dataset IAM fix). */
  providerVersion(tf) {
    const required = Object.assign(
      {},
      ...tf.settings.flatMap((s) => (s.required_providers as Body[] | undefined) ?? []),
    ) as Record<string, { version: string }>;
    for (const name of ['google', 'google-beta']) {
      const lower = /^>= (\d+)\.(\d+)\.\d+, < (\d+)\.0\.0$/.exec(required[name]?.version ?? '');
      assert.ok(lower, `${name}: ${required[name]?.version}`);
      assert.ok(Number(lower[1]) === 7 && Number(lower[2]) >= 45, `${name} must require >= 7.45`);
      assert.equal(lower[3], '8');
    }
  },
} satisfies Record<string, Check>;

/** Roles a read-only deploy account must never hold: they change IAM, secrets or anything else. */
const WRITING_ROLE =
  /admin|Admin|owner|editor|^roles\/viewer$|secretAccessor|secretVersion|\.writer$|configWriter|serviceAccountUser|TokenCreator|datastore\.(user|viewer)$|bigquery\.(dataViewer|dataEditor|dataOwner|user)$/;

export const bootstrapChecks = {
  providerSchema(tf) {
    assert.deepEqual(schemaProblems(tf), []);
  },

  /** The plan account reads configuration, never data, and can change nothing. */
  planAccountReadOnly(tf) {
    const roles = rolesOfSet(local(tf, 'plan_project_roles'));
    assert.ok(roles.length > 0);
    for (const role of roles) {
      if (role === 'roles/logging.logWriter') continue; // its own build logs
      assert.doesNotMatch(role, WRITING_ROLE, `the plan account must not hold ${role}`);
    }
    const planMember = 'serviceAccount:${google_service_account.plan.email}';
    for (const [address, body] of tf.resources) {
      if (body.member !== planMember) continue;
      if (address === 'google_project_iam_member.plan') continue;
      assert.match(String(body.role), /^roles\/storage\.objectViewer$/, `${address}: ${body.role}`);
    }
    const source = resource(tf, 'google_project_iam_member.plan_source_objects');
    assert.match(String(block(source, 'condition').expression), /gateway-function-source\//);
  },

  /** Two triggers: any branch plans as the plan account; only main applies, approved, as the apply account. */
  triggers(tf) {
    const plan = resource(tf, 'google_cloudbuild_trigger.plan');
    const apply = resource(tf, 'google_cloudbuild_trigger.apply');
    assert.equal(plan.service_account, '${google_service_account.plan.id}');
    assert.equal(apply.service_account, '${google_service_account.apply.id}');
    assert.equal((plan.substitutions as Record<string, string>)._APPLY, 'false');
    assert.equal((apply.substitutions as Record<string, string>)._APPLY, 'true');
    assert.equal(block(apply, 'approval_config').approval_required, true);
    const branch = String(block(block(apply, 'github'), 'push').branch);
    assert.equal(branch, '^${var.deploy_branch}$');
    assert.equal(tf.variables.get('deploy_branch')?.default, 'main');
    assert.equal(plan.filename, apply.filename);
  },
} satisfies Record<string, Check>;
