# Audit entries (local.audit_log_filter: the label the code writes, read from auditStream.json) go to the
# BigQuery audit dataset; two log-based metrics count the audit events operators are alerted on.

resource "google_logging_project_sink" "audit" {
  project                = var.project_id
  name                   = "clinical-ai-audit-to-bigquery"
  description            = "Audit events of the clinical AI gateway to the BigQuery audit dataset."
  destination            = "bigquery.googleapis.com/projects/${var.project_id}/datasets/${google_bigquery_dataset.audit.dataset_id}"
  filter                 = local.audit_log_filter
  unique_writer_identity = true

  bigquery_options {
    use_partitioned_tables = true
  }

  depends_on = [google_bigquery_table.audit_log]
}

locals {
  # Audit event types (core/audit/events.ts `auditEventTypes`) that get a counter and an alert; each counter
  # is split by one column of the event's index (core/audit/auditIndex.ts, written as jsonPayload.audit).
  audit_event_metrics = {
    breaker_opened = {
      event_type      = "breaker.opened"
      description     = "Provider circuit breakers opening (audit events breaker.opened), by provider."
      label           = "provider"
      label_extractor = "EXTRACT(jsonPayload.audit.breaker_provider)"
    }
    review_escalated = {
      event_type      = "review.escalated"
      description     = "Review items that passed their SLA and were escalated (audit events review.escalated), by task."
      label           = "task"
      label_extractor = "EXTRACT(jsonPayload.audit.task)"
    }
  }
}

resource "google_logging_metric" "audit_event" {
  for_each    = local.audit_event_metrics
  project     = var.project_id
  name        = "gateway/${replace(each.key, "_", "-")}"
  description = each.value.description
  filter      = "${local.audit_log_filter} AND labels.event_type=\"${each.value.event_type}\""

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
    labels {
      key         = each.value.label
      value_type  = "STRING"
      description = "The ${each.value.label} the event concerns."
    }
  }

  label_extractors = {
    (each.value.label) = each.value.label_extractor
  }
}
