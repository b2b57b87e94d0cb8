# Every minute, review-jobs first re-emits committed audit events whose instance never got them to the audit
# sink (their pending copies in auditPending, older than AUDIT_PENDING_GRACE_SECONDS: docs/audit.md), then
# publishes review requests the inference API could only write to the outbox
# (Pub/Sub was unavailable at the time), then re-sends the review request of any inference whose review item
# is still missing after var.review_intake_grace_seconds (Pub/Sub accepted it, the intake never took it in:
# functions/src/core/review/reviewRequestReconciler.ts). All three are idempotent, so a missed or doubled run is
# harmless and Cloud Scheduler need not retry: the next minute's run catches up.

resource "google_cloud_scheduler_job" "sweep_review_outbox" {
  project          = var.project_id
  region           = var.region
  name             = "sweep-review-outbox"
  description      = "Publishes review requests left in the review outbox; re-sends those never taken in."
  schedule         = var.outbox_sweep_schedule
  time_zone        = "Etc/UTC"
  attempt_deadline = "${local.function_sizing["review_jobs"].timeout_seconds}s"

  retry_config {
    retry_count = 0
  }

  http_target {
    http_method = "POST"
    uri         = "${local.function_urls["review_jobs"]}/jobs/sweep-review-outbox"
    headers     = { "Content-Type" = "application/json" }
    body        = base64encode("{}")
    oidc_token {
      service_account_email = google_service_account.review_scheduler.email
      audience              = local.function_urls["review_jobs"]
    }
  }

  lifecycle {
    precondition {
      condition     = local.function_sizing["review_jobs"].timeout_seconds >= 15 && local.function_sizing["review_jobs"].timeout_seconds <= 1800
      error_message = "review-jobs' timeout is the Scheduler attempt deadline, which Cloud Scheduler bounds to 15-1800 s for HTTP targets."
    }
  }

  depends_on = [google_project_service.service, google_cloud_run_service_iam_member.invoker]
}
