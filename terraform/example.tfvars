# Copy to terraform.tfvars (for a local plan) or upload to gs://STATE_BUCKET/config/terraform.tfvars (what
# Cloud Build uses); see docs/deployment.md. Nothing here is secret: keys live in Secret Manager, and only
# the version numbers the functions mount are pinned here.

project_id = "acme-clinical-ai-prod"
region     = "us-central1"

auth_principals = {
  "ehr-backend@acme-ehr-prod.iam.gserviceaccount.com" = { tenant = "acme", roles = ["clinician"] }
  "dr.alice@acme-hospital.org"                        = { tenant = "acme", roles = ["reviewer"] }
  "ops.bob@acme-hospital.org"                         = { tenant = "acme", roles = ["admin"] }
}

routing_config = <<-JSON
  {
    "providers": {
      "openai": { "kind": "openai-compatible", "baseUrl": "https://api.openai.com/v1", "apiKeyEnv": "OPENAI_API_KEY" },
      "self-hosted": { "kind": "openai-compatible", "baseUrl": "https://vllm.internal.acme-hospital.org/v1", "apiKeyEnv": "VLLM_API_KEY" }
    },
    "tasks": {
      "medication-extraction": {
        "chain": [ { "provider": "openai", "model": "gpt-4o-mini", "timeoutMs": 8000 },
                   { "provider": "self-hosted", "model": "clinical-8b", "timeoutMs": 8000 } ],
        "reviewThreshold": 0.8, "reviewSlaMinutes": 240
      },
      "clinical-summary": {
        "chain": [ { "provider": "openai", "model": "gpt-4o-mini", "timeoutMs": 15000 } ],
        "reviewThreshold": 0.85, "reviewSlaMinutes": 240
      },
      "icd10-suggestion": {
        "chain": [ { "provider": "openai", "model": "gpt-4o-mini", "timeoutMs": 8000 },
                   { "provider": "self-hosted", "model": "clinical-8b", "timeoutMs": 8000 } ],
        "reviewThreshold": 0.9, "reviewSlaMinutes": 480
      }
    }
  }
JSON

provider_api_key_secrets = {
  OPENAI_API_KEY = { secret_id = "openai-api-key", version = 1 }
  VLLM_API_KEY   = { secret_id = "vllm-api-key", version = 1 }
}

# Secret versions every function mounts; bump one after `gcloud secrets versions add` to rotate.
audit_hmac_key_version  = 1
audit_chain_key_version = 1
webhook_secrets_version = 1

# Where each tenant's callbackUrls may point (origins only: scheme, host, optional port).
callback_allowed_origins = {
  acme = ["https://ehr.acme-hospital.org"]
}

audit_readers         = ["group:clinical-ai-audit@acme-hospital.org"]
alert_email_addresses = ["clinical-ai-oncall@acme-hospital.org"]
