# Identities. Each function runs as its own service account holding only what that function does; the
# internal callers (Cloud Tasks, Cloud Scheduler, the Pub/Sub push subscription) have their own accounts
# that may invoke exactly one function. Nobody is granted allUsers or allAuthenticatedUsers.

resource "google_service_account" "function" {
  for_each     = local.functions
  project      = var.project_id
  account_id   = each.value.service_account_id
  display_name = "Gateway function ${each.value.name}"
  description  = "Runtime identity of the ${each.value.name} function only."
}

# Builds the function containers (Cloud Build, on deploy) instead of the default compute account.
resource "google_service_account" "function_builder" {
  project      = var.project_id
  account_id   = "gw-function-builder"
  display_name = "Gateway function builder"
}

# OIDC identity of Cloud Tasks calls to review-jobs (TASKS_SERVICE_ACCOUNT).
resource "google_service_account" "review_tasks" {
  project      = var.project_id
  account_id   = "gw-review-tasks"
  display_name = "Gateway Cloud Tasks invoker (review-jobs)"
}

# OIDC identity of the Cloud Scheduler job that runs the review outbox sweep.
resource "google_service_account" "review_scheduler" {
  project      = var.project_id
  account_id   = "gw-review-scheduler"
  display_name = "Gateway Cloud Scheduler invoker (review-jobs)"
}

# OIDC identity of the Pub/Sub push subscription that delivers review requests to review-intake.
resource "google_service_account" "review_push" {
  project      = var.project_id
  account_id   = "gw-review-push"
  display_name = "Gateway Pub/Sub push invoker (review-intake)"
}

locals {
  # Project-level roles. Firestore has no per-collection IAM, so datastore.user is the narrowest role that
  # lets a function read and write its documents.
  function_project_roles = merge([
    for key, fn in local.functions : {
      for role in concat(
        ["roles/datastore.user", "roles/logging.logWriter"],
        fn.calls_models && local.routing_uses_vertex ? ["roles/aiplatform.user"] : [],
      ) : "${key}/${role}" => { function = key, role = role }
    }
  ]...)

  # What the Cloud Run functions docs list for a custom build service account
  # (cloud.google.com/run/docs/configuring/services/build-service-account): Logs Writer and Artifact
  # Registry Writer in the project; Storage Object Admin to fetch the source, granted on the source bucket
  # only (google_storage_bucket_iam_member.builder_source below), not on every bucket of the project.
  builder_project_roles = toset([
    "roles/logging.logWriter",
    "roles/artifactregistry.writer",
  ])

  # run.invoker grants. Public functions: every AUTH_PRINCIPALS entry holding one of the function's
  # invoker_roles (a service account email becomes serviceAccount:, any other email user:).
  public_invokers = merge([
    for key, fn in local.functions : {
      for email, principal in var.auth_principals :
      "${key}/${email}" => {
        function = key
        member   = endswith(email, ".gserviceaccount.com") ? "serviceAccount:${email}" : "user:${email}"
      }
      if length(setintersection(toset(fn.invoker_roles), toset(principal.roles))) > 0
    }
  ]...)

  internal_invokers = {
    "review_jobs/tasks"     = { function = "review_jobs", member = "serviceAccount:${google_service_account.review_tasks.email}" }
    "review_jobs/scheduler" = { function = "review_jobs", member = "serviceAccount:${google_service_account.review_scheduler.email}" }
    "review_intake/push"    = { function = "review_intake", member = "serviceAccount:${google_service_account.review_push.email}" }
  }

  invoker_bindings = merge(local.public_invokers, local.internal_invokers)

  # Topic publishers and queue enqueuers, from each function's `publishes` and `enqueues`.
  publisher_bindings = merge([
    for key, fn in local.functions : { for topic in fn.publishes : "${key}/${topic}" => { function = key, topic = topic } }
  ]...)
  enqueuer_bindings = merge([
    for key, fn in local.functions : { for queue in fn.enqueues : "${key}/${queue}" => { function = key, queue = queue } }
  ]...)
  task_creators = toset([for key, fn in local.functions : key if length(fn.enqueues) > 0])
}

resource "google_project_iam_member" "function" {
  for_each = local.function_project_roles
  project  = var.project_id
  role     = each.value.role
  member   = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

resource "google_project_iam_member" "function_builder" {
  for_each = local.builder_project_roles
  project  = var.project_id
  role     = each.value
  member   = "serviceAccount:${google_service_account.function_builder.email}"
}

resource "google_storage_bucket_iam_member" "builder_source" {
  bucket = google_storage_bucket.function_source.name
  role   = "roles/storage.objectAdmin"
  member = "serviceAccount:${google_service_account.function_builder.email}"
}

resource "google_cloud_run_service_iam_member" "invoker" {
  for_each = local.invoker_bindings
  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.function[each.value.function].name
  role     = "roles/run.invoker"
  member   = each.value.member
}

resource "google_pubsub_topic_iam_member" "publisher" {
  for_each = local.publisher_bindings
  project  = var.project_id
  topic    = google_pubsub_topic.topic[each.value.topic].name
  role     = "roles/pubsub.publisher"
  member   = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

resource "google_cloud_tasks_queue_iam_member" "enqueuer" {
  for_each = local.enqueuer_bindings
  project  = var.project_id
  location = var.region
  name     = google_cloud_tasks_queue.queue[each.value.queue].name
  role     = "roles/cloudtasks.enqueuer"
  member   = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

# Creating a task that carries an OIDC token for the tasks account requires acting as that account.
resource "google_service_account_iam_member" "task_creator_acts_as_tasks_invoker" {
  for_each           = local.task_creators
  service_account_id = google_service_account.review_tasks.name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.function[each.value].email}"
}
