# The four Cloud Functions (2nd gen), built from one source archive; functions/src/index.ts registers the
# entry points. Which env vars each gets, and which secrets, is derived here from local.functions.

locals {
  # Settings every function reads (functions/src/config.ts parses them once, at cold start). To pass a new
  # setting, add it here (or, without a module change, through var.extra_environment).
  managed_environment = {
    GATEWAY_ENV               = "production"
    GATEWAY_VERSION           = local.gateway_version
    GOOGLE_CLOUD_PROJECT      = var.project_id
    AUTH_PRINCIPALS           = jsonencode(var.auth_principals)
    ROUTING_CONFIG            = jsonencode(jsondecode(var.routing_config))
    REVIEW_SAMPLE_RATE        = tostring(var.review_sample_rate)
    IDEMPOTENCY_TTL_HOURS     = tostring(var.idempotency_ttl_hours)
    IDEMPOTENCY_LEASE_SECONDS = tostring(var.idempotency_lease_seconds)
    REVIEW_TOPIC              = google_pubsub_topic.topic["review_requests"].name
    REVIEW_DEAD_LETTER_TOPIC  = google_pubsub_topic.topic["review_dead_letter"].name
    ESCALATION_TOPIC          = google_pubsub_topic.topic["review_escalations"].name
    REVIEW_EVENTS_TOPIC       = google_pubsub_topic.topic["review_events"].name
    # A name, not the resource: the subscription pushes to review-intake, so it depends on the function.
    REVIEW_INTAKE_SUBSCRIPTION   = local.subscriptions.review_intake
    REVIEW_MAX_DELIVERY_ATTEMPTS = tostring(var.dead_letter_max_delivery_attempts)
    REVIEW_LEASE_SECONDS         = tostring(var.review_lease_seconds)
    REVIEW_INTAKE_GRACE_SECONDS  = tostring(var.review_intake_grace_seconds)
    TASKS_MODE                   = "cloud"
    TASKS_LOCATION               = var.region
    DEADLINE_QUEUE               = google_cloud_tasks_queue.queue["review_deadlines"].name
    CALLBACK_QUEUE               = google_cloud_tasks_queue.queue["review_callbacks"].name
    # Key id stamped on every sealed audit event; the verifier looks the key up by it (AUDIT_CHAIN_KEYS).
    AUDIT_CHAIN_KEY_ID = local.audit_chain_key_id
    # review-jobs accepts OIDC tokens for this audience from these two accounts only.
    REVIEW_JOBS_URL           = local.function_urls["review_jobs"]
    JOBS_AUDIENCE             = local.function_urls["review_jobs"]
    TASKS_SERVICE_ACCOUNT     = google_service_account.review_tasks.email
    SCHEDULER_SERVICE_ACCOUNT = google_service_account.review_scheduler.email
  }

  # How Node runs in each function (the local stack passes the same, functions/dev/stack.ts):
  #   --max-old-space-size=<3/8 of the memory>  V8 otherwise sizes its heap for the host, not the instance, and
  #       lets garbage pile up to 3-4x what is live before it collects: under load the inference API reached
  #       450-530 MiB of RSS with ~45 MiB live. Capped, it collects sooner and stays far inside the limit.
  #   --experimental-async-context-frame  AsyncLocalStorage, which the Functions Framework enters for every
  #       request, without async hooks (no bookkeeping per promise; the default from Node 24).
  #   MALLOC_ARENA_MAX=2  glibc's per-thread malloc arenas (one per thread, up to 8 per core) are memory
  #       that is never given back; two are enough for Node's few threads.
  #   FIRESTORE_ENABLE_TRACING=off  the Firestore SDK traces every call with OpenTelemetry unless told not
  #       to; nothing here registers a tracer, so each call only built spans that went nowhere.
  function_memory_mib = {
    for key, sizing in local.function_sizing : key => (
      tonumber(regex("^([0-9]+)", sizing.memory)[0]) * (can(regex("^[0-9]+Gi?$", sizing.memory)) ? 1024 : 1)
    )
  }
  runtime_environment = {
    for key, mib in local.function_memory_mib : key => {
      NODE_OPTIONS             = "--max-old-space-size=${floor(mib * 3 / 8)} --experimental-async-context-frame"
      MALLOC_ARENA_MAX         = "2"
      FIRESTORE_ENABLE_TRACING = "off"
    }
  }

  function_environment = {
    for key, fn in local.functions : key => merge(
      var.extra_environment,
      var.breaker_settings,
      local.managed_environment,
      local.runtime_environment[key],
      # The ID-token audience this function accepts: its own URL.
      { AUTH_AUDIENCE = local.function_urls[key] },
      # The same number as max_instance_request_concurrency below, so the code sheds load (503) at the
      # concurrency Cloud Run routes to an instance instead of queueing past it.
      { for name, value in { MAX_CONCURRENT_REQUESTS = tostring(local.function_sizing[key].concurrency) } : name => value if fn.sheds_load },
      # Per-tenant callback origins: the inference API refuses other callbackUrls (422), review-jobs
      # re-checks before sending. Not secret.
      { for name, value in { CALLBACK_ALLOWED_ORIGINS = jsonencode(var.callback_allowed_origins) } : name => value if fn.checks_callbacks },
      # The audience of IAP's signed header, for the reviewer function behind the console's load balancer.
      key == "reviewer_api" ? local.console_iap_environment : {},
    )
  }

  # Secrets mounted as environment variables, per function, each at the numeric version its variable pins
  # (never "latest": during a rotation every instance must hold the same key). The accessor grants below
  # are derived from this same map, so a secret is readable exactly by the functions that mount it.
  #   AUDIT_HMAC_KEY   pseudonymises prompts and edits in audit events (every function)
  #   AUDIT_CHAIN_KEY  seals the audit hash chain; its key id is AUDIT_CHAIN_KEY_ID (every function)
  #   provider keys    inference API only
  #   WEBHOOK_SECRETS  per-tenant Standard Webhooks secrets; review-jobs only (it signs and sends callbacks)
  function_secrets = {
    for key, fn in local.functions : key => merge(
      {
        for env_name, secret in {
          AUDIT_HMAC_KEY  = { secret = google_secret_manager_secret.audit_hmac_key.secret_id, version = var.audit_hmac_key_version }
          AUDIT_CHAIN_KEY = { secret = google_secret_manager_secret.audit_chain_key.secret_id, version = var.audit_chain_key_version }
        } : env_name => secret if fn.writes_audit
      },
      {
        for env_name, provider_key in var.provider_api_key_secrets :
        env_name => { secret = google_secret_manager_secret.provider_api_key[env_name].secret_id, version = provider_key.version } if fn.calls_models
      },
      {
        for env_name, secret in {
          WEBHOOK_SECRETS = { secret = google_secret_manager_secret.webhook_secrets.secret_id, version = var.webhook_secrets_version }
        } : env_name => secret if fn.signs_callbacks
      },
    )
  }

  secret_bindings = merge([
    for key, secrets in local.function_secrets : {
      for env_name, _ in secrets : "${key}/${env_name}" => { function = key, env_name = env_name }
    }
  ]...)
}

resource "google_cloudfunctions2_function" "function" {
  for_each    = local.functions
  project     = var.project_id
  location    = var.region
  name        = each.value.name
  description = each.value.description

  build_config {
    runtime         = "nodejs22"
    entry_point     = each.value.entry_point
    service_account = google_service_account.function_builder.id
    source {
      storage_source {
        bucket = google_storage_bucket.function_source.name
        object = google_storage_bucket_object.function_source.name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.function[each.key].email
    ingress_settings                 = each.value.ingress
    all_traffic_on_latest_revision   = true
    min_instance_count               = local.function_sizing[each.key].min_instances
    max_instance_count               = local.function_sizing[each.key].max_instances
    max_instance_request_concurrency = local.function_sizing[each.key].concurrency
    available_cpu                    = local.function_sizing[each.key].cpu
    available_memory                 = local.function_sizing[each.key].memory
    timeout_seconds                  = local.function_sizing[each.key].timeout_seconds
    environment_variables            = local.function_environment[each.key]

    dynamic "secret_environment_variables" {
      for_each = local.function_secrets[each.key]
      content {
        key        = secret_environment_variables.key
        project_id = var.project_id
        secret     = secret_environment_variables.value.secret
        # Pinned: a rotation is a new version plus a variable bump and an apply (docs/deployment.md).
        version = tostring(secret_environment_variables.value.version)
      }
    }
  }

  lifecycle {
    # A callback origin that is one of our own functions would let a tenant aim callbacks at internal jobs.
    precondition {
      condition     = alltrue([for origin in flatten(values(var.callback_allowed_origins)) : !contains(values(local.function_urls), origin)])
      error_message = "callback_allowed_origins must not name one of the gateway's own functions."
    }
  }

  depends_on = [
    google_project_service.service,
    google_project_iam_member.function,
    google_project_iam_member.function_builder,
    # The deploy checks that the runtime account can read every mounted secret.
    google_secret_manager_secret_iam_member.accessor,
  ]
}
