# Alerts: a breaker opened, reviews overdue or piling up, dead letters, function error rate, audit events lost. Every policy
# notifies the channels in var.alert_notification_channels plus one email channel per
# var.alert_email_addresses.

resource "google_monitoring_notification_channel" "email" {
  for_each     = toset(var.alert_email_addresses)
  project      = var.project_id
  display_name = "Clinical AI gateway alerts: ${each.value}"
  type         = "email"
  labels = {
    email_address = each.value
  }
}

locals {
  notification_channels = concat(var.alert_notification_channels, [for c in google_monitoring_notification_channel.email : c.id])
}

# A log-based metric is not visible to Cloud Monitoring at once: an alert policy that filters on one created
# in the same apply is refused with 404 for up to ten minutes (hashicorp/terraform-provider-google#11102).
# The policies read the metric names through this resource, so they wait for it; it sleeps only when a
# metric is new (its triggers change), not on every apply.
resource "time_sleep" "log_metrics_visible" {
  create_duration = "600s"
  triggers = merge(
    { for key, metric in google_logging_metric.audit_event : key => metric.name },
    { audit_write_failed = google_logging_metric.audit_write_failed.name },
  )
}

resource "google_monitoring_alert_policy" "breaker_opened" {
  project               = var.project_id
  display_name          = "Gateway: provider circuit breaker opened"
  combiner              = "OR"
  notification_channels = local.notification_channels
  severity              = "WARNING"

  conditions {
    display_name = "breaker.opened audit events"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${time_sleep.log_metrics_visible.triggers["breaker_opened"]}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.provider"]
      }
      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A provider's error rate crossed the breaker threshold; requests fall back down the task's chain. Check the provider's status and `GET /v1/providers` (admin). The breaker closes by itself once probes succeed."
  }
}

resource "google_monitoring_alert_policy" "review_overdue" {
  project               = var.project_id
  display_name          = "Gateway: review items overdue or backlogged"
  combiner              = "OR"
  notification_channels = local.notification_channels
  severity              = "WARNING"

  conditions {
    display_name = "review.escalated audit events (a review passed its SLA)"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${time_sleep.log_metrics_visible.triggers["review_escalated"]}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.task"]
      }
      trigger {
        count = 1
      }
    }
  }

  conditions {
    display_name = "review requests waiting for the intake"
    condition_threshold {
      filter          = "metric.type=\"pubsub.googleapis.com/subscription/oldest_unacked_message_age\" AND resource.type=\"pubsub_subscription\" AND resource.label.subscription_id=\"${google_pubsub_subscription.review_intake.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.review_intake_backlog_seconds
      duration        = "300s"
      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Reviews are overdue (escalated to the review-escalations topic, subscription review-escalations-operators) or review requests are not reaching the review-intake function. Check reviewer staffing, then review-intake's errors."
  }
}

resource "google_monitoring_alert_policy" "dead_letters" {
  project               = var.project_id
  display_name          = "Gateway: review requests dead-lettered"
  combiner              = "OR"
  notification_channels = local.notification_channels
  severity              = "ERROR"

  conditions {
    display_name = "messages held in ${google_pubsub_subscription.review_dead_letter.name}"
    condition_threshold {
      filter          = "metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.type=\"pubsub_subscription\" AND resource.label.subscription_id=\"${google_pubsub_subscription.review_dead_letter.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "60s"
      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
      trigger {
        count = 1
      }
    }
  }

  conditions {
    display_name = "a dead letter has waited more than a day"
    condition_threshold {
      filter          = "metric.type=\"pubsub.googleapis.com/subscription/oldest_unacked_message_age\" AND resource.type=\"pubsub_subscription\" AND resource.label.subscription_id=\"${google_pubsub_subscription.review_dead_letter.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 86400
      duration        = "0s"
      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_MAX"
      }
      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A review request failed every delivery to review-intake and is held in the dead-letter subscription: a pending inference has no review item. Fix the cause (review-intake logs), then replay (docs/deployment.md, \"Dead letters\"). Dead letters are deleted after 31 days."
  }
}

resource "google_monitoring_alert_policy" "audit_write_failed" {
  project               = var.project_id
  display_name          = "Gateway: audit events not written"
  combiner              = "OR"
  notification_channels = local.notification_channels
  severity              = "CRITICAL"

  conditions {
    display_name = "audit sink write failures"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${time_sleep.log_metrics_visible.triggers["audit_write_failed"]}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.event_type"]
      }
      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "The gateway could not write audit events: the decisions they record stand, but the audit trail has a hole (a compliance incident). Find the lines with `jsonPayload.event=\"audit_write_failed\"` in the functions' logs (event ids and types, the error's name), fix the cause, then run `npm run audit:completeness` over the period. See docs/security.md, \"When an audit event cannot be written\"."
  }
}

resource "google_monitoring_alert_policy" "function_error_rate" {
  project               = var.project_id
  display_name          = "Gateway: function 5xx rate above threshold"
  combiner              = "OR"
  notification_channels = local.notification_channels
  severity              = "ERROR"

  conditions {
    display_name = "share of 5xx answers per function"
    condition_threshold {
      filter             = "metric.type=\"run.googleapis.com/request_count\" AND resource.type=\"cloud_run_revision\" AND metric.label.response_code_class=\"5xx\" AND ${local.gateway_services_filter}"
      denominator_filter = "metric.type=\"run.googleapis.com/request_count\" AND resource.type=\"cloud_run_revision\" AND ${local.gateway_services_filter}"
      comparison         = "COMPARISON_GT"
      threshold_value    = var.error_rate_threshold
      duration           = "300s"
      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.service_name"]
      }
      denominator_aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.service_name"]
      }
      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A gateway function answers 5xx to more than the threshold share of requests for five minutes. 503 with every provider failing also counts: check the breaker alert first, then the function's logs."
  }
}

locals {
  gateway_services_filter = "resource.label.service_name=one_of(${join(", ", [for fn in local.functions : "\"${fn.name}\""])})"
}
