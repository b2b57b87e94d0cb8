# ---------------------------------------------------------------------------------------------------------
# Where

variable "project_id" {
  description = "Google Cloud project that hosts the gateway (one project per environment)."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id: 6 to 30 lowercase letters, digits or hyphens."
  }
}

variable "region" {
  description = "Region of the functions, Cloud Tasks queues and Cloud Scheduler job, e.g. us-central1."
  type        = string
  default     = "us-central1"
  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a Google Cloud region such as us-central1 or europe-west4."
  }
}

variable "firestore_location" {
  description = "Location of the Firestore database: a multi-region (nam5, eur3) or a region. Cannot change after creation."
  type        = string
  default     = "nam5"
}

variable "audit_dataset_location" {
  description = "BigQuery location of the audit dataset (US, EU or a region). Cannot change after creation."
  type        = string
  default     = "US"
}

variable "labels" {
  description = "Labels put on every resource that takes labels."
  type        = map(string)
  default     = { app = "clinical-ai-gateway" }
}

# ---------------------------------------------------------------------------------------------------------
# Who may call, and what the gateway does

variable "auth_principals" {
  description = <<-EOT
    Callers of the public functions: Google account or service account email => { tenant, roles }. Becomes
    AUTH_PRINCIPALS (the app maps a verified ID token's email to a tenant and roles) AND the Cloud Run invoker
    bindings: a principal with role clinician or admin may invoke the inference API, reviewer or admin the
    reviewer API. One list, so IAM and the app never disagree. Roles: clinician, reviewer, admin.
  EOT
  type = map(object({
    tenant = string
    roles  = list(string)
  }))
  validation {
    condition     = alltrue([for email, _ in var.auth_principals : can(regex("^[^@\\s]+@[^@\\s]+\\.[a-z]{2,}$", email))])
    error_message = "auth_principals keys must be email addresses (a user or a service account); allUsers, allAuthenticatedUsers and domains are not callers."
  }
  validation {
    condition = alltrue([
      for _, p in var.auth_principals :
      length(p.roles) > 0 && alltrue([for r in p.roles : contains(["clinician", "reviewer", "admin"], r)]) && length(trimspace(p.tenant)) > 0
    ])
    error_message = "Every principal needs a non-empty tenant and at least one role out of clinician, reviewer, admin."
  }
}

variable "routing_config" {
  description = <<-EOT
    ROUTING_CONFIG, as JSON: { "providers": { name: { "kind": "openai-compatible" | "vertex-gemini" |
    "anthropic", ... } }, "tasks": { task: { "chain": [ { "provider", "model", "timeoutMs" } ],
    "reviewThreshold", "reviewSlaMinutes" } } }. Validated again, strictly, by the functions at start
    (functions/src/config.ts). terraform.tfvars.example has a complete example.
  EOT
  type        = string
  validation {
    condition     = can(jsondecode(var.routing_config).providers) && can(jsondecode(var.routing_config).tasks)
    error_message = "routing_config must be JSON with \"providers\" and \"tasks\" objects."
  }
}

variable "provider_api_key_secrets" {
  description = "Provider API keys: environment variable the routing config's apiKeyEnv names => { secret_id, version }, e.g. { OPENAI_API_KEY = { secret_id = \"openai-api-key\", version = 1 } }. Terraform creates the secrets (empty); an operator adds each value; the inference API (only) mounts the pinned version."
  type = map(object({
    secret_id = string
    version   = number
  }))
  default = {}
  validation {
    condition = alltrue([
      for env_name, s in var.provider_api_key_secrets :
      can(regex("^[A-Z][A-Z0-9_]*$", env_name)) && can(regex("^[A-Za-z0-9_-]{1,255}$", s.secret_id)) && s.version >= 1 && floor(s.version) == s.version
    ])
    error_message = "Keys must be environment variable names (A-Z, 0-9, _); secret_id a Secret Manager secret id (letters, digits, _ and -); version a secret version number (1, 2, ...), never latest."
  }
}

variable "audit_hmac_key_secret_id" {
  description = "Secret Manager secret holding AUDIT_HMAC_KEY (at least 16 characters; pseudonymises prompts and edits in audit events). Terraform creates it empty; an operator adds the value."
  type        = string
  default     = "audit-hmac-key"
}

variable "audit_hmac_key_version" {
  description = "Version of the audit-hmac-key secret every function mounts (a number: pinned, so all instances hash alike). Rotation: docs/deployment.md."
  type        = number
  default     = 1
  validation {
    condition     = var.audit_hmac_key_version >= 1 && floor(var.audit_hmac_key_version) == var.audit_hmac_key_version
    error_message = "audit_hmac_key_version must be a secret version number (1, 2, ...)."
  }
}

variable "audit_chain_key_secret_id" {
  description = "Secret Manager secret holding AUDIT_CHAIN_KEY, the HMAC key that seals the audit hash chain. Terraform creates it empty; an operator adds the value. The audit readers may read it (audit:verify)."
  type        = string
  default     = "audit-chain-key"
}

variable "audit_chain_key_version" {
  description = "Version of the audit-chain-key secret every function mounts; also the key id AUDIT_CHAIN_KEY_ID = \"v<version>\" stamped on each sealed event. Keep old versions enabled: verification needs them."
  type        = number
  default     = 1
  validation {
    condition     = var.audit_chain_key_version >= 1 && floor(var.audit_chain_key_version) == var.audit_chain_key_version
    error_message = "audit_chain_key_version must be a secret version number (1, 2, ...)."
  }
}

variable "webhook_secrets_secret_id" {
  description = "Secret Manager secret holding WEBHOOK_SECRETS: JSON { tenant: \"whsec_<base64>\" }, the Standard Webhooks signing secret of each tenant's callbacks. Mounted into review-jobs only."
  type        = string
  default     = "webhook-secrets"
}

variable "webhook_secrets_version" {
  description = "Version of the webhook-secrets secret review-jobs mounts. A tenant's secret rotates by adding a version with the new value and bumping this."
  type        = number
  default     = 1
  validation {
    condition     = var.webhook_secrets_version >= 1 && floor(var.webhook_secrets_version) == var.webhook_secrets_version
    error_message = "webhook_secrets_version must be a secret version number (1, 2, ...)."
  }
}

variable "callback_allowed_origins" {
  description = "CALLBACK_ALLOWED_ORIGINS: tenant => origins its callbackUrls may point at, e.g. { acme = [\"https://ehr.acme-hospital.org\"] }. A callbackUrl elsewhere is refused (422). Passed to the inference API and review-jobs; not secret."
  type        = map(list(string))
  default     = {}
  validation {
    condition = alltrue(flatten([
      for tenant, origins in var.callback_allowed_origins : [
        for origin in origins : can(regex("^https://[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+(:[0-9]{1,5})?$", origin))
      ]
    ]))
    error_message = "callback_allowed_origins: each origin is https://host[:port] in lower case, with no path, query or trailing slash."
  }
  validation {
    condition     = alltrue([for tenant, _ in var.callback_allowed_origins : length(trimspace(tenant)) > 0])
    error_message = "callback_allowed_origins: tenant names must not be empty."
  }
}

variable "review_sample_rate" {
  description = "REVIEW_SAMPLE_RATE: share (0 to 1) of confident outputs also sent to human review, for quality sampling."
  type        = number
  default     = 0
  validation {
    condition     = var.review_sample_rate >= 0 && var.review_sample_rate <= 1
    error_message = "review_sample_rate must be between 0 and 1."
  }
}

variable "idempotency_ttl_hours" {
  description = "IDEMPOTENCY_TTL_HOURS: how long an Idempotency-Key is remembered. The API contract promises at least 24 hours."
  type        = number
  default     = 24
  validation {
    condition     = var.idempotency_ttl_hours >= 24
    error_message = "idempotency_ttl_hours must be at least 24 (the API contract keeps a key at least 24 hours)."
  }
}

variable "idempotency_lease_seconds" {
  description = "IDEMPOTENCY_LEASE_SECONDS: after this long a claim whose holder died may be taken over. Keep it above the longest provider chain."
  type        = number
  default     = 30
  validation {
    condition     = var.idempotency_lease_seconds >= 5 && var.idempotency_lease_seconds <= 600
    error_message = "idempotency_lease_seconds must be between 5 and 600."
  }
}

variable "review_lease_seconds" {
  description = "REVIEW_LEASE_SECONDS: how long a reviewer's claim on a review item lasts."
  type        = number
  default     = 600
  validation {
    condition     = var.review_lease_seconds >= 60 && var.review_lease_seconds <= 86400
    error_message = "review_lease_seconds must be between 60 and 86400."
  }
}

variable "breaker_settings" {
  description = "Circuit breaker settings passed as environment variables (names starting with BREAKER_, e.g. BREAKER_ERROR_RATE = \"0.05\"); unset ones take the code's defaults (docs/settings.md)."
  type        = map(string)
  default     = {}
  validation {
    condition     = alltrue([for k, _ in var.breaker_settings : can(regex("^BREAKER_[A-Z0-9_]+$", k))])
    error_message = "breaker_settings keys must start with BREAKER_."
  }
}

variable "extra_environment" {
  description = "More environment variables for every function, for settings added after this module was written. The variables this module manages (functions.tf: local.managed_environment) take precedence."
  type        = map(string)
  default     = {}
  validation {
    condition     = alltrue([for k, _ in var.extra_environment : can(regex("^[A-Z][A-Z0-9_]*$", k)) && !contains(["PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"], k)])
    error_message = "extra_environment keys must be upper-case environment variable names and not ones Cloud Run reserves (PORT, K_*)."
  }
}

# ---------------------------------------------------------------------------------------------------------
# Capacity

variable "function_sizing" {
  description = <<-EOT
    Per-function overrides of instances, concurrency, CPU, memory and timeout; keys: inference_api,
    reviewer_api, review_intake, review_jobs. Defaults (functions.tf) size the inference API for 45M requests a
    month (about 17/s, bursts several times that) with warm instances for a p95 under 200 ms of gateway time.
  EOT
  type = map(object({
    min_instances   = optional(number)
    max_instances   = optional(number)
    concurrency     = optional(number)
    cpu             = optional(string)
    memory          = optional(string)
    timeout_seconds = optional(number)
  }))
  default = {}
  validation {
    condition     = alltrue([for k, _ in var.function_sizing : contains(["inference_api", "reviewer_api", "review_intake", "review_jobs"], k)])
    error_message = "function_sizing keys must be inference_api, reviewer_api, review_intake or review_jobs."
  }
  validation {
    condition = alltrue([
      for _, s in var.function_sizing :
      (s.concurrency == null ? true : s.concurrency >= 1 && s.concurrency <= 1000) &&
      (s.min_instances == null ? true : s.min_instances >= 0) &&
      (s.max_instances == null ? true : s.max_instances >= 1)
    ])
    error_message = "concurrency must be 1 to 1000, min_instances at least 0, max_instances at least 1."
  }
  # Each function's timeout also sets a deadline that another API bounds: review-intake's is the push
  # subscription's ack deadline (Pub/Sub: 10 to 600 s), review-jobs' the Scheduler job's attempt deadline
  # (HTTP targets: 15 to 1800 s); any HTTP function runs at most 3600 s. pubsub.tf and scheduler.tf check
  # the resulting values again, defaults included.
  validation {
    condition = alltrue([
      for key, s in var.function_sizing : s.timeout_seconds == null ? true : (
        key == "review_intake" ? s.timeout_seconds >= 10 && s.timeout_seconds <= 600 :
        key == "review_jobs" ? s.timeout_seconds >= 15 && s.timeout_seconds <= 1800 :
        s.timeout_seconds >= 1 && s.timeout_seconds <= 3600
      )
    ])
    error_message = "timeout_seconds: review_intake 10 to 600 (Pub/Sub ack deadline), review_jobs 15 to 1800 (Cloud Scheduler attempt deadline), others 1 to 3600."
  }
}

variable "public_ingress" {
  description = "Ingress of the two public functions (inference and reviewer APIs): ALLOW_ALL, or ALLOW_INTERNAL_AND_GCLB behind an external load balancer. The internal functions are always ALLOW_INTERNAL_ONLY."
  type        = string
  default     = "ALLOW_ALL"
  validation {
    condition     = contains(["ALLOW_ALL", "ALLOW_INTERNAL_AND_GCLB", "ALLOW_INTERNAL_ONLY"], var.public_ingress)
    error_message = "public_ingress must be ALLOW_ALL, ALLOW_INTERNAL_AND_GCLB or ALLOW_INTERNAL_ONLY."
  }
}

variable "dead_letter_max_delivery_attempts" {
  description = "Deliveries of a review request to the review intake before it goes to the dead-letter topic (Pub/Sub allows 5 to 100)."
  type        = number
  default     = 10
  validation {
    condition     = var.dead_letter_max_delivery_attempts >= 5 && var.dead_letter_max_delivery_attempts <= 100
    error_message = "dead_letter_max_delivery_attempts must be between 5 and 100."
  }
}

variable "review_event_subscribers" {
  description = "Outside subscribers of the review-events topic: name => { group (a Google group's email), tenant }. Each gets its own subscription review-events-<name>, filtered on that tenant, ordered, with a dead-letter policy, and the group may consume from it and nothing else (docs/events.md)."
  type = map(object({
    group  = string
    tenant = string
  }))
  default = {}
  validation {
    condition     = alltrue([for name, s in var.review_event_subscribers : can(regex("^[a-z][a-z0-9-]{0,40}$", name))])
    error_message = "review_event_subscribers names must be lower-case letters, digits and '-', at most 41 characters, starting with a letter."
  }
  validation {
    condition     = alltrue([for s in values(var.review_event_subscribers) : can(regex("^[^@\\s:]+@[^@\\s]+$", s.group))])
    error_message = "review_event_subscribers groups must be a Google group's email address (no prefix, never allUsers)."
  }
  validation {
    condition     = alltrue([for s in values(var.review_event_subscribers) : can(regex("^[A-Za-z0-9._-]{1,128}$", s.tenant))])
    error_message = "review_event_subscribers tenants must be 1-128 letters, digits, '.', '_' or '-' (they go into a subscription filter)."
  }
}

variable "outbox_sweep_schedule" {
  description = "Cron schedule (UTC) of the Cloud Scheduler job that calls the review outbox sweeper."
  type        = string
  default     = "* * * * *"
}

variable "review_intake_grace_seconds" {
  description = "REVIEW_INTAKE_GRACE_SECONDS: an inference sent to review whose item the intake has not created this long after its review request gets the request re-sent by the outbox sweep. The default is far beyond the intake's normal latency and Pub/Sub's first retries of a push (10, 20, 40, 80 s) and far inside the review SLA; while the intake is down longer, Pub/Sub keeps retrying and the sweep re-sends at most once per grace per inference, duplicates the intake takes in once."
  type        = number
  default     = 300
  validation {
    condition     = var.review_intake_grace_seconds >= 60 && var.review_intake_grace_seconds <= 86400
    error_message = "review_intake_grace_seconds must be between 60 and 86400."
  }
}

# ---------------------------------------------------------------------------------------------------------
# Audit trail

variable "audit_retention_days" {
  description = "Expiry of audit tables and partitions in BigQuery, in days; null (the default) keeps them forever. HIPAA asks for six years: anything shorter than 2192 days (six calendar years that hold two leap days) is refused."
  type        = number
  default     = null
  validation {
    condition     = var.audit_retention_days == null ? true : var.audit_retention_days >= 2192
    error_message = "audit_retention_days must be null (keep forever) or at least 2192 (six calendar years, two of them leap days)."
  }
}

variable "audit_kms_key_name" {
  description = "Cloud KMS key (projects/P/locations/L/keyRings/R/cryptoKeys/K, same location as the dataset) encrypting the audit dataset; null uses Google-managed encryption."
  type        = string
  default     = null
  validation {
    condition     = var.audit_kms_key_name == null ? true : can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", var.audit_kms_key_name))
    error_message = "audit_kms_key_name must be a full crypto key name: projects/P/locations/L/keyRings/R/cryptoKeys/K."
  }
}

variable "audit_readers" {
  description = "Members (group:..., user:..., serviceAccount:...) who run the audit commands: BigQuery Data Viewer on the audit dataset, Job User in the project (to query), and read access to the audit chain key (audit:verify)."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for m in var.audit_readers : can(regex("^(user|group|serviceAccount):[^@\\s]+@[^@\\s]+$", m))])
    error_message = "audit_readers must be user:, group: or serviceAccount: members; never allUsers or allAuthenticatedUsers."
  }
}

# ---------------------------------------------------------------------------------------------------------
# Alerts

variable "alert_notification_channels" {
  description = "Existing Cloud Monitoring notification channel ids (projects/P/notificationChannels/N) every alert notifies."
  type        = list(string)
  default     = []
}

variable "alert_email_addresses" {
  description = "Email addresses to notify of every alert; an email notification channel is created for each."
  type        = list(string)
  default     = []
}

variable "error_rate_threshold" {
  description = "Share of 5xx answers (0 to 1) over five minutes above which a function's error-rate alert fires."
  type        = number
  default     = 0.05
  validation {
    condition     = var.error_rate_threshold > 0 && var.error_rate_threshold < 1
    error_message = "error_rate_threshold must be between 0 and 1."
  }
}

variable "review_intake_backlog_seconds" {
  description = "Alert when the oldest undelivered review request is older than this many seconds."
  type        = number
  default     = 300
}
