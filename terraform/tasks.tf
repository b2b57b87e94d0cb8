# Cloud Tasks queues. Tasks call review-jobs with an OIDC token of the tasks account (TASKS_SERVICE_ACCOUNT);
# the handlers are idempotent, so retries are safe.

locals {
  queue_settings = {
    # A deadline check must not be lost while review-jobs is down: retry without limit, backing off to
    # five minutes. The rate caps a burst of simultaneous deadlines.
    review_deadlines = {
      max_dispatches_per_second = 50
      max_concurrent_dispatches = 100
      max_attempts              = -1
      max_retry_duration        = "0s"
      min_backoff               = "5s"
      max_backoff               = "300s"
      max_doublings             = 6
    }
    # A clinician app's callback endpoint may be down for a while: retry for a day, then give up (the
    # inference resource still answers GET /v1/inferences/{id}).
    review_callbacks = {
      max_dispatches_per_second = 20
      max_concurrent_dispatches = 50
      max_attempts              = -1
      max_retry_duration        = "86400s"
      min_backoff               = "10s"
      max_backoff               = "600s"
      max_doublings             = 6
    }
  }
}

resource "google_cloud_tasks_queue" "queue" {
  for_each = local.queues
  project  = var.project_id
  location = var.region
  name     = each.value

  rate_limits {
    max_dispatches_per_second = local.queue_settings[each.key].max_dispatches_per_second
    max_concurrent_dispatches = local.queue_settings[each.key].max_concurrent_dispatches
  }

  retry_config {
    max_attempts       = local.queue_settings[each.key].max_attempts
    max_retry_duration = local.queue_settings[each.key].max_retry_duration
    min_backoff        = local.queue_settings[each.key].min_backoff
    max_backoff        = local.queue_settings[each.key].max_backoff
    max_doublings      = local.queue_settings[each.key].max_doublings
  }

  # Task logs carry task names and status codes, no payloads.
  stackdriver_logging_config {
    sampling_ratio = 1.0
  }

  depends_on = [google_project_service.service]
}
