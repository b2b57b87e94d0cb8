locals {
  # How the code marks audit entries in Cloud Logging: the code (core/audit/events.ts) and this module read
  # the same file, so the sink filter and the log-based metrics can never drift from what the code writes.
  audit_stream = jsondecode(file("${path.module}/../functions/src/core/audit/auditStream.json"))

  # Any entry carrying the audit label, whoever wrote it: excluded from the _Default bucket (logging.tf), so
  # audit entries (model outputs, patient references) never sit in the 30-day operational logs.
  audit_label_filter = "labels.${local.audit_stream.labelKey}=\"${local.audit_stream.labelValue}\""

  # Exactly the audit entries: stdout lines of our four Cloud Run functions that carry the audit label. The
  # log name and the services keep out entries that anyone holding logging.logWriter writes through the
  # Logging API under another log or resource; the keyed hash chain (AUDIT_CHAIN_KEY) exposes the rest.
  audit_services_filter = "resource.labels.service_name=(${join(" OR ", [for fn in local.functions : "\"${fn.name}\""])})"
  audit_log_filter      = "resource.type=\"cloud_run_revision\" AND log_id(\"run.googleapis.com/stdout\") AND ${local.audit_services_filter} AND ${local.audit_label_filter}"

  # Recorded in every audit event (GATEWAY_VERSION): the package version plus the source archive's hash,
  # so an auditor can tell which build made a decision.
  gateway_version = "${jsondecode(file("${path.module}/../package.json")).version}+${substr(data.archive_file.function_source.output_sha256, 0, 12)}"

  topics = {
    review_requests           = "review-requests"
    review_dead_letter        = "review-requests-dead-letter"
    review_escalations        = "review-escalations"
    review_events             = "review-events"
    review_events_dead_letter = "review-events-dead-letter"
  }

  # Topics whose messages have a contract (functions/src/core/review/messageContracts.ts): each gets the
  # Pub/Sub schema generated from it (schemas/<topic>.proto, `npm run asyncapi`). Dead-letter topics carry
  # whatever failed, as it was, and have none.
  schema_topics = toset(["review_requests", "review_escalations", "review_events"])

  subscriptions = {
    review_intake             = "review-intake"
    review_dead_letter        = "review-requests-dead-letter-hold"
    review_escalations        = "review-escalations-operators"
    review_events_operators   = "review-events-operators"
    review_events_dead_letter = "review-events-dead-letter-hold"
  }

  queues = {
    review_deadlines = "review-deadlines"
    review_callbacks = "review-callbacks"
  }

  # The functions, one entry each; everything per function (service account, invokers, secrets, topics it
  # publishes to, queues it enqueues on, sizing) is derived from this map. To add a function, add an entry
  # and register its entry point in functions/src/index.ts.
  #   invoker_roles  AUTH_PRINCIPALS roles whose holders get run.invoker (public functions only)
  #   writes_audit     mounts AUDIT_HMAC_KEY and AUDIT_CHAIN_KEY (config.ts requires them in production)
  #   calls_models     mounts the provider API keys and, if routing uses Vertex AI, gets aiplatform.user
  #   sheds_load       gets MAX_CONCURRENT_REQUESTS = its max_instance_request_concurrency
  #   checks_callbacks gets CALLBACK_ALLOWED_ORIGINS (accepts or sends callbackUrl)
  #   signs_callbacks  mounts WEBHOOK_SECRETS (sends the callbacks, signed per tenant)
  functions = {
    inference_api = {
      name               = "inference-api"
      entry_point        = "inferenceApi"
      description        = "Clinical AI inference API (clinician apps)."
      service_account_id = "gw-inference-api"
      ingress            = var.public_ingress
      invoker_roles      = ["clinician", "admin"]
      writes_audit       = true
      calls_models       = true
      sheds_load         = true
      checks_callbacks   = true
      signs_callbacks    = false
      publishes          = ["review_requests"]
      enqueues           = []
      # ~17 req/s on average, each holding a request slot for the model call (about 1-3 s): about 50 in
      # flight, which one warm instance at concurrency 80 carries. Two stay warm so a burst or a zone
      # failure never waits for a cold start (p95 < 200 ms of gateway time); the ceiling covers bursts of
      # ~40x the average (100 x 80 in flight) while bounding the load on Firestore and providers.
      sizing = { min_instances = 2, max_instances = 100, concurrency = 80, cpu = "1", memory = "512Mi", timeout_seconds = 120 }
    }
    reviewer_api = {
      name               = "reviewer-api"
      entry_point        = "reviewerApi"
      description        = "Clinical reviewer API: list, claim and decide review items."
      service_account_id = "gw-reviewer-api"
      ingress            = var.public_ingress
      invoker_roles      = ["reviewer", "admin"]
      writes_audit       = true
      calls_models       = false
      sheds_load         = true
      checks_callbacks   = false
      signs_callbacks    = false
      publishes          = ["review_events"]
      enqueues           = ["review_callbacks"]
      sizing             = { min_instances = 1, max_instances = 10, concurrency = 40, cpu = "1", memory = "512Mi", timeout_seconds = 60 }
    }
    review_intake = {
      name               = "review-intake"
      entry_point        = "reviewIntake"
      description        = "Turns review requests (Pub/Sub push) into review items and schedules their deadline."
      service_account_id = "gw-review-intake"
      ingress            = "ALLOW_INTERNAL_ONLY"
      invoker_roles      = []
      writes_audit       = true
      calls_models       = false
      sheds_load         = false
      checks_callbacks   = false
      signs_callbacks    = false
      publishes          = ["review_events"]
      enqueues           = ["review_deadlines"]
      # One warm instance: a review item must be listed within 5 s of the 202 (API contract), which a cold
      # start would endanger.
      sizing = { min_instances = 1, max_instances = 20, concurrency = 20, cpu = "1", memory = "512Mi", timeout_seconds = 60 }
    }
    review_jobs = {
      name               = "review-jobs"
      entry_point        = "reviewJobs"
      description        = "Internal jobs: review deadline checks and callbacks (Cloud Tasks), review outbox sweep (Cloud Scheduler)."
      service_account_id = "gw-review-jobs"
      ingress            = "ALLOW_INTERNAL_ONLY"
      invoker_roles      = []
      writes_audit       = true
      calls_models       = false
      sheds_load         = false
      checks_callbacks   = true
      signs_callbacks    = true
      publishes          = ["review_requests", "review_escalations", "review_events"]
      enqueues           = ["review_deadlines", "review_callbacks"]
      sizing             = { min_instances = 0, max_instances = 10, concurrency = 20, cpu = "1", memory = "512Mi", timeout_seconds = 300 }
    }
  }

  # The URL every function answers on: its Cloud Run service's deterministic run.app URL, known before
  # the function exists, so functions can name each other and their own ID-token audience without a
  # dependency cycle. It must be run.app: Cloud Scheduler, Cloud Tasks and Pub/Sub count as internal
  # traffic (ALLOW_INTERNAL_ONLY) only on run.app URLs. Clients request ID tokens with this audience.
  function_urls = {
    for key, fn in local.functions : key => "https://${fn.name}-${data.google_project.this.number}.${var.region}.run.app"
  }

  function_sizing = {
    for key, fn in local.functions : key => merge(
      fn.sizing,
      { for k, v in try(var.function_sizing[key], {}) : k => v if v != null },
    )
  }

  routing_providers = values(jsondecode(var.routing_config).providers)
  routing_uses_vertex = anytrue([
    for p in local.routing_providers :
    try(p.kind, "") == "vertex-gemini" || (try(p.kind, "") == "anthropic" && try(p.mode, "direct") == "vertex")
  ])
}
