# Audit entries (local.audit_log_filter: the label the code writes, read from auditStream.json, on the four
# functions' stdout log) go to the BigQuery audit dataset and nowhere else: the _Default sink excludes every
# entry with the audit label, so model outputs and patient references never reach the _Default bucket
# (30 days, readable by anyone with roles/logging.viewer). Two log-based metrics count the audit events
# operators are alerted on; see below why the exclusion does not blind them.

# An exclusion created through the exclusions API applies to the project's _Default sink (LogExclusion:
# "filtered out by a sink"); the _Required sink cannot exclude anything and never sees these entries.
resource "google_logging_project_exclusion" "audit_from_default" {
  project     = var.project_id
  name        = "clinical-ai-audit-not-in-default"
  description = "Audit entries (PHI) go only to the audit dataset (sink clinical-ai-audit-to-bigquery), never to the _Default log bucket."
  filter      = local.audit_label_filter
}

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

# Project-scoped user-defined metrics (no bucket_name) are computed from every entry the Logging API
# receives, before sinks and their exclusions (cloud.google.com/logging/docs/logs-based-metrics), so they
# keep counting audit events that no longer reach _Default. A bucket-scoped metric would see nothing: the
# policy tests forbid bucket_name here. They read only the index's provider/task columns, no clinical text.
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

# An audit event the code could not write (the sink failed): the change it records stands and its chain head
# is stored, so `npm run audit:completeness` finds the gap, but the trail has a hole until someone looks. The
# code logs one operational line for each (core/audit/auditSink.ts: `event` = AUDIT_WRITE_FAILED, ERROR, ids
# only); this counts those lines, by event type, for the alert in monitoring.tf. The line carries no audit
# label, so it is in _Default too, where an operator finds its ids.
locals {
  audit_write_failed_filter = "resource.type=\"cloud_run_revision\" AND log_id(\"run.googleapis.com/stdout\") AND ${local.audit_services_filter} AND jsonPayload.event=\"audit_write_failed\""
}

resource "google_logging_metric" "audit_write_failed" {
  project     = var.project_id
  name        = "gateway/audit-write-failed"
  description = "Audit events the gateway could not write to its audit sink (a hole in the audit trail), by event type."
  filter      = local.audit_write_failed_filter

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
    labels {
      key         = "event_type"
      value_type  = "STRING"
      description = "The type of the audit event that was lost."
    }
  }

  label_extractors = {
    event_type = "EXTRACT(jsonPayload.eventType)"
  }
}
