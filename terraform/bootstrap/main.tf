# The deploy pipeline's own identities and its two Cloud Build triggers, applied once by a project owner
# (docs/deployment.md, "Bootstrap"), not by Cloud Build: the pipeline must never be able to widen its own
# rights.
#
#   plan   any branch; runs as gw-deploy-plan, which can read what the gateway's plan refreshes and the
#          Terraform state, and nothing more: it cannot change IAM, read or change secrets, write state, or
#          read clinical data (no roles/viewer: project viewers read BigQuery datasets through the legacy
#          projectReaders access and Firestore documents).
#   apply  only `main`, and only after a person with roles/cloudbuild.builds.approver approves the build;
#          runs as gw-deploy-apply, which may change what the gateway's Terraform manages.
#
# The branch controls cloudbuild.yaml, so the YAML is not the gate: which trigger runs, and as which
# account, is. A branch that edits the YAML to apply still runs as gw-deploy-plan and fails on the first write.

terraform {
  required_version = ">= 1.6.0, < 2.0.0"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 7.45.0, < 8.0.0"
    }
  }
  # Same state bucket as the gateway, another prefix:
  #   terraform init -backend-config="bucket=STATE_BUCKET" -backend-config="prefix=clinical-ai-gateway-bootstrap"
  backend "gcs" {}
}

provider "google" {
  project = var.project_id
}

locals {
  # Read-only roles, one per service the gateway's Terraform refreshes during a plan. Each is the narrowest
  # predefined role that can read that service's configuration and IAM policy without its data.
  plan_project_roles = toset([
    "roles/browser",                         # the project and its number
    "roles/iam.securityReviewer",            # every IAM policy, for the *_iam_member resources
    "roles/serviceusage.serviceUsageViewer", # enabled APIs
    "roles/cloudfunctions.viewer",
    "roles/run.viewer",
    "roles/iam.serviceAccountViewer",
    "roles/pubsub.viewer",         # topics and subscriptions, never their messages
    "roles/cloudtasks.viewer",     # queues
    "roles/cloudscheduler.viewer", # jobs
    "roles/datastore.indexViewer", # Firestore indexes and TTL fields, never documents
    "roles/bigquery.metadataViewer",
    "roles/logging.viewer", # sinks, exclusions and metrics; _Default holds no audit entries
    "roles/monitoring.viewer",
    "roles/secretmanager.viewer", # secrets' metadata, never a value
    "roles/storage.bucketViewer",
    "roles/logging.logWriter", # its own build logs (options.logging: CLOUD_LOGGING_ONLY)
  ])

  # What the gateway's Terraform creates and changes (terraform/*.tf), for the apply account only.
  apply_project_roles = toset([
    "roles/cloudfunctions.admin",
    "roles/run.admin",
    "roles/iam.serviceAccountAdmin",
    "roles/iam.serviceAccountUser",
    "roles/resourcemanager.projectIamAdmin",
    "roles/serviceusage.serviceUsageAdmin",
    "roles/storage.admin",
    "roles/pubsub.admin",
    "roles/datastore.owner",
    "roles/cloudtasks.admin",
    "roles/cloudscheduler.admin",
    "roles/bigquery.admin",
    "roles/logging.configWriter",
    "roles/logging.logWriter",
    "roles/monitoring.editor",
    "roles/secretmanager.admin",
  ])
}

resource "google_service_account" "plan" {
  project      = var.project_id
  account_id   = "gw-deploy-plan"
  display_name = "Gateway deploy: plan (any branch, read-only)"
}

resource "google_service_account" "apply" {
  project      = var.project_id
  account_id   = "gw-deploy-apply"
  display_name = "Gateway deploy: apply (main, approved)"
}

resource "google_project_iam_member" "plan" {
  for_each = local.plan_project_roles
  project  = var.project_id
  role     = each.value
  member   = "serviceAccount:${google_service_account.plan.email}"
}

resource "google_project_iam_member" "apply" {
  for_each = local.apply_project_roles
  project  = var.project_id
  role     = each.value
  member   = "serviceAccount:${google_service_account.apply.email}"
}

# The function source archive's metadata (google_storage_bucket_object), in the gateway's source bucket only.
resource "google_project_iam_member" "plan_source_objects" {
  project = var.project_id
  role    = "roles/storage.objectViewer"
  member  = "serviceAccount:${google_service_account.plan.email}"
  condition {
    title      = "gateway-function-source-only"
    expression = "resource.name.startsWith(\"projects/_/buckets/${var.project_id}-gateway-function-source/\")"
  }
}

# State and config/terraform.tfvars: the plan account reads them (plan runs with -lock=false), only the
# apply account writes (state, locks).
resource "google_storage_bucket_iam_member" "plan_state" {
  bucket = var.state_bucket
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.plan.email}"
}

resource "google_storage_bucket_iam_member" "apply_state" {
  bucket = var.state_bucket
  role   = "roles/storage.objectAdmin"
  member = "serviceAccount:${google_service_account.apply.email}"
}

resource "google_cloudbuild_trigger" "plan" {
  project         = var.project_id
  location        = var.trigger_location
  name            = "clinical-ai-gateway-plan"
  description     = "Every branch: lint, tests, package, terraform plan (read-only account)."
  filename        = "cloudbuild.yaml"
  service_account = google_service_account.plan.id

  github {
    owner = var.github_owner
    name  = var.github_repository
    push {
      branch = ".*"
    }
  }

  substitutions = {
    _TF_STATE_BUCKET = var.state_bucket
    _REGION          = var.region
    _APPLY           = "false"
  }
}

resource "google_cloudbuild_trigger" "apply" {
  project         = var.project_id
  location        = var.trigger_location
  name            = "clinical-ai-gateway-apply"
  description     = "main only, after approval: the same checks, then terraform apply."
  filename        = "cloudbuild.yaml"
  service_account = google_service_account.apply.id

  github {
    owner = var.github_owner
    name  = var.github_repository
    push {
      branch = "^${var.deploy_branch}$"
    }
  }

  approval_config {
    approval_required = true
  }

  substitutions = {
    _TF_STATE_BUCKET = var.state_bucket
    _REGION          = var.region
    _APPLY           = "true"
  }
}

# Who may approve an apply build.
resource "google_project_iam_member" "approver" {
  for_each = toset(var.deploy_approvers)
  project  = var.project_id
  role     = "roles/cloudbuild.builds.approver"
  member   = each.value
}
