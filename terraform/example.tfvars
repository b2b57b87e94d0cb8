# Copy to terraform.tfvars (for a local plan) or upload to gs://STATE_BUCKET/config/terraform.tfvars (what
# Cloud Build uses); see README "Deployment". Nothing here is secret: API keys live in Secret Manager.

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
  OPENAI_API_KEY = "openai-api-key"
  VLLM_API_KEY   = "vllm-api-key"
}

audit_readers         = ["group:clinical-ai-audit@acme-hospital.org"]
alert_email_addresses = ["clinical-ai-oncall@acme-hospital.org"]
