# Secrets are created empty: their values never pass through Terraform (or its state). An operator adds each
# value once (README: "One-time steps"), before the functions are first deployed.

resource "google_secret_manager_secret" "audit_hmac_key" {
  project   = var.project_id
  secret_id = var.audit_hmac_key_secret_id
  replication {
    auto {}
  }
  depends_on = [google_project_service.service]
}

resource "google_secret_manager_secret" "provider_api_key" {
  for_each  = var.provider_api_key_secrets
  project   = var.project_id
  secret_id = each.value
  replication {
    auto {}
  }
  depends_on = [google_project_service.service]
}

# One grant per (function, mounted secret); see local.function_secrets in functions.tf.
resource "google_secret_manager_secret_iam_member" "accessor" {
  for_each  = local.secret_bindings
  project   = var.project_id
  secret_id = local.function_secrets[each.value.function][each.value.env_name]
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.function[each.value.function].email}"
}
