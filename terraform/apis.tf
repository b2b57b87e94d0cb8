locals {
  services = toset(concat(
    [
      "artifactregistry.googleapis.com",
      "bigquery.googleapis.com",
      "cloudbuild.googleapis.com",
      "cloudfunctions.googleapis.com",
      "cloudresourcemanager.googleapis.com",
      "cloudscheduler.googleapis.com",
      "cloudtasks.googleapis.com",
      "firestore.googleapis.com",
      "iam.googleapis.com",
      "iamcredentials.googleapis.com",
      "logging.googleapis.com",
      "monitoring.googleapis.com",
      "pubsub.googleapis.com",
      "run.googleapis.com",
      "secretmanager.googleapis.com",
      "storage.googleapis.com",
    ],
    local.routing_uses_vertex ? ["aiplatform.googleapis.com"] : [],
    var.audit_kms_key_name == null ? [] : ["cloudkms.googleapis.com"],
  ))
}

resource "google_project_service" "service" {
  for_each = local.services
  project  = var.project_id
  service  = each.value

  # Destroying this configuration must never switch an API off under other workloads of the project.
  disable_on_destroy         = false
  disable_dependent_services = false
}
