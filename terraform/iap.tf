# The reviewer console behind Identity-Aware Proxy. The reviewer function serves the console under /console/;
# here an external HTTPS load balancer on `console_iap.domain` fronts the reviewer function's Cloud Run
# service (a serverless NEG), with IAP enabled on its backend service. IAP signs in the person, lets only
# the reviewer members through, and forwards each request with a signed `x-goog-iap-jwt-assertion`, which
# the reviewer API verifies (IAP_AUDIENCE, functions/src/adapters/auth/iapJwtAuthenticator.ts) and maps to a
# tenant and roles through the same AUTH_PRINCIPALS directory as ID tokens.
#
# With IAP on, set public_ingress = "ALLOW_INTERNAL_AND_GCLB" so the service is reached only through the
# load balancer. functions.tf passes local.console_iap_environment (IAP_AUDIENCE) into the reviewer
# function's environment (output console_iap_audience shows the value).

variable "console_iap" {
  description = <<-EOT
    The reviewer console behind Identity-Aware Proxy. enabled: build the load balancer and turn IAP on;
    domain: the console's DNS name (a Google-managed certificate is issued for it once its A record points
    at output console_ip); reviewer_members: who IAP lets through ("group:reviewers@hospital.example" or
    "user:..."); each person also needs an AUTH_PRINCIPALS entry, which gives the tenant and roles.
  EOT
  type = object({
    enabled          = bool
    domain           = optional(string, "")
    reviewer_members = optional(list(string), [])
  })
  default = { enabled = false }

  validation {
    condition = !var.console_iap.enabled || (
      can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,}$", var.console_iap.domain)) &&
      length(var.console_iap.reviewer_members) > 0
    )
    error_message = "With console_iap.enabled, domain must be a DNS name and reviewer_members must name at least one member."
  }
  validation {
    condition = alltrue([
      for m in var.console_iap.reviewer_members : can(regex("^(group|user|domain):[^\\s]+$", m))
    ])
    error_message = "reviewer_members are group:, user: or domain: members; never allUsers or allAuthenticatedUsers."
  }
}

locals {
  console_iap_count = var.console_iap.enabled ? 1 : 0
  # The audience IAP's JWT carries: the backend service, by project number and numeric id.
  console_iap_audience = var.console_iap.enabled ? "/projects/${data.google_project.this.number}/global/backendServices/${google_compute_backend_service.console[0].generated_id}" : null
  # Environment for the reviewer function (merge into its environment in functions.tf).
  console_iap_environment = var.console_iap.enabled ? { IAP_AUDIENCE = local.console_iap_audience } : {}
}

resource "google_project_service" "console_iap" {
  for_each           = var.console_iap.enabled ? toset(["iap.googleapis.com", "compute.googleapis.com"]) : toset([])
  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}

# IAP's service agent: it calls the reviewer service on the signed-in person's behalf.
resource "google_project_service_identity" "iap" {
  count    = local.console_iap_count
  provider = google-beta
  project  = var.project_id
  service  = "iap.googleapis.com"

  depends_on = [google_project_service.console_iap]
}

resource "google_cloud_run_service_iam_member" "iap_invoker" {
  count    = local.console_iap_count
  project  = var.project_id
  location = var.region
  service  = local.functions.reviewer_api.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_project_service_identity.iap[0].email}"

  depends_on = [google_cloudfunctions2_function.function]
}

resource "google_compute_region_network_endpoint_group" "console" {
  count                 = local.console_iap_count
  project               = var.project_id
  name                  = "reviewer-console"
  region                = var.region
  network_endpoint_type = "SERVERLESS"
  cloud_run {
    service = local.functions.reviewer_api.name
  }

  depends_on = [google_project_service.console_iap]
}

resource "google_compute_backend_service" "console" {
  count                 = local.console_iap_count
  project               = var.project_id
  name                  = "reviewer-console"
  protocol              = "HTTPS"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  backend {
    group = google_compute_region_network_endpoint_group.console[0].id
  }
  # IAP with a Google-managed OAuth client.
  iap {
    enabled = true
  }
  log_config {
    enable      = true
    sample_rate = 1
  }
}

resource "google_iap_web_backend_service_iam_member" "console_reviewers" {
  for_each            = var.console_iap.enabled ? toset(var.console_iap.reviewer_members) : toset([])
  project             = var.project_id
  web_backend_service = google_compute_backend_service.console[0].name
  role                = "roles/iap.httpsResourceAccessor"
  member              = each.value
}

resource "google_compute_url_map" "console" {
  count           = local.console_iap_count
  project         = var.project_id
  name            = "reviewer-console"
  default_service = google_compute_backend_service.console[0].id
}

resource "google_compute_managed_ssl_certificate" "console" {
  count   = local.console_iap_count
  project = var.project_id
  name    = "reviewer-console"
  managed {
    domains = [var.console_iap.domain]
  }
}

resource "google_compute_target_https_proxy" "console" {
  count            = local.console_iap_count
  project          = var.project_id
  name             = "reviewer-console"
  url_map          = google_compute_url_map.console[0].id
  ssl_certificates = [google_compute_managed_ssl_certificate.console[0].id]
}

resource "google_compute_global_address" "console" {
  count   = local.console_iap_count
  project = var.project_id
  name    = "reviewer-console"

  depends_on = [google_project_service.console_iap]
}

resource "google_compute_global_forwarding_rule" "console" {
  count                 = local.console_iap_count
  project               = var.project_id
  name                  = "reviewer-console"
  target                = google_compute_target_https_proxy.console[0].id
  ip_address            = google_compute_global_address.console[0].id
  port_range            = "443"
  load_balancing_scheme = "EXTERNAL_MANAGED"
}

output "console_url" {
  description = "The reviewer console behind IAP (null while console_iap is off)."
  value       = var.console_iap.enabled ? "https://${var.console_iap.domain}/console/" : null
}

output "console_ip" {
  description = "Point the console domain's A record here (null while console_iap is off)."
  value       = var.console_iap.enabled ? google_compute_global_address.console[0].address : null
}

output "console_iap_audience" {
  description = "IAP_AUDIENCE for the reviewer function (null while console_iap is off)."
  value       = local.console_iap_environment == {} ? null : local.console_iap_environment.IAP_AUDIENCE
}
