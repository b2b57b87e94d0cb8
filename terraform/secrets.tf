# Secrets are created empty: their values never pass through Terraform (or its state). An operator adds each
# value (docs/deployment.md: first apply), and every function mounts the numeric version a variable pins:
# rotating is `gcloud secrets versions add`, bump the variable, apply. Old versions stay enabled until no
# instance and no verification needs them (the audit chain key's, for ever: old chains are verified with it).

locals {
  # Stamped on every sealed audit event (AUDIT_CHAIN_KEY_ID); the verifier's AUDIT_CHAIN_KEYS maps it back
  # to the key, so chains sealed before a rotation keep verifying.
  audit_chain_key_id = "v${var.audit_chain_key_version}"
}

resource "google_secret_manager_secret" "audit_hmac_key" {
  project   = var.project_id
  secret_id = var.audit_hmac_key_secret_id
  replication {
    auto {}
  }
  depends_on = [google_project_service.service]
}

# HMAC key that seals the audit hash chain (every function writes audit events).
resource "google_secret_manager_secret" "audit_chain_key" {
  project   = var.project_id
  secret_id = var.audit_chain_key_secret_id
  replication {
    auto {}
  }
  depends_on = [google_project_service.service]
}

# Per-tenant Standard Webhooks secrets, JSON { tenant: "whsec_<base64>" }; review-jobs signs callbacks with them.
resource "google_secret_manager_secret" "webhook_secrets" {
  project   = var.project_id
  secret_id = var.webhook_secrets_secret_id
  replication {
    auto {}
  }
  depends_on = [google_project_service.service]
}

resource "google_secret_manager_secret" "provider_api_key" {
  for_each  = var.provider_api_key_secrets
  project   = var.project_id
  secret_id = each.value.secret_id
  replication {
    auto {}
  }
  depends_on = [google_project_service.service]
}

# One grant per (function, mounted secret); see local.function_secrets in functions.tf.
resource "google_secret_manager_secret_iam_member" "accessor" {
  for_each  = local.secret_bindings
  project   = var.project_id
  secret_id = local.function_secrets[each.value.function][each.value.env_name].secret
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

# The audit readers run `npm run audit:verify`, which recomputes the keyed chain: they need every version
# of the chain key (AUDIT_CHAIN_KEYS), and no other secret.
resource "google_secret_manager_secret_iam_member" "audit_chain_verifier" {
  for_each  = toset(var.audit_readers)
  project   = var.project_id
  secret_id = google_secret_manager_secret.audit_chain_key.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = each.value
}
