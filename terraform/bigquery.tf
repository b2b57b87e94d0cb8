# The audit dataset: the Cloud Logging sink (logging.tf) streams every audit entry into it, into tables it
# creates itself (named after the log, e.g. run_googleapis_com_stdout), partitioned by day.
#
# Nobody can shorten retention below six years through this module (var.audit_retention_days), and no
# principal but the sink's Google-managed writer identity can write: functions hold no BigQuery role at all,
# readers get dataViewer. The writer identity holds BigQuery Data Editor on this dataset only, the role Cloud
# Logging documents for sinks; it includes bigquery.tables.delete, which Logging never uses and no person can
# exercise (the identity is Google's, it has no keys). Deleting audit data would take a project owner, and
# is recoverable for 7 days through time travel; the per-inference hash chain makes any deletion or edit
# evident.

locals {
  # The dataset name is shared with the code (auditStream.json `bigQueryTable`).
  audit_dataset_id    = local.audit_stream.bigQueryTable
  audit_expiration_ms = var.audit_retention_days == null ? null : var.audit_retention_days * 86400000
}

resource "google_bigquery_dataset" "audit" {
  project       = var.project_id
  dataset_id    = local.audit_dataset_id
  friendly_name = "Clinical AI gateway audit trail"
  description   = "Append-only audit events of the clinical AI gateway (HIPAA audit trail), routed by a Cloud Logging sink."
  location      = var.audit_dataset_location

  default_table_expiration_ms     = local.audit_expiration_ms
  default_partition_expiration_ms = local.audit_expiration_ms
  max_time_travel_hours           = "168"
  delete_contents_on_destroy      = false

  dynamic "default_encryption_configuration" {
    for_each = var.audit_kms_key_name == null ? [] : [var.audit_kms_key_name]
    content {
      kms_key_name = default_encryption_configuration.value
    }
  }

  lifecycle {
    prevent_destroy = true
  }

  depends_on = [google_project_service.service, google_kms_crypto_key_iam_member.bigquery_cmek]
}

locals {
  audit_table_schema_file = "${path.module}/schemas/audit_events_v1.json"
}

# The table the sink writes (named after the log: auditStream.json `bigQueryLogTable`), created ahead of the
# first entry from the versioned schema in terraform/schemas, so that its columns and their types are fixed
# rather than inferred from whichever entry comes first. Without that schema file the sink creates the table
# itself on the first entry (same name, same day partitions on `timestamp`).
resource "google_bigquery_table" "audit_log" {
  count               = fileexists(local.audit_table_schema_file) ? 1 : 0
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.audit.dataset_id
  table_id            = local.audit_stream.bigQueryLogTable
  description         = "Audit entries of the gateway functions' stdout log, written by the audit log sink."
  schema              = file(local.audit_table_schema_file)
  deletion_protection = true

  time_partitioning {
    type          = "DAY"
    field         = "timestamp"
    expiration_ms = local.audit_expiration_ms
  }

  lifecycle {
    prevent_destroy = true
    # After creation the sink owns the columns: a new log field adds a column (schemas/audit_events_v1.md),
    # which the next plan would want to drop or answer with a replacement that prevent_destroy refuses.
    # The schema file seeds the table only; evolve it by adding fields, never by changing existing ones.
    ignore_changes = [schema]
  }
}

resource "google_bigquery_dataset_iam_member" "sink_writer" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.audit.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = google_logging_project_sink.audit.writer_identity
}

resource "google_bigquery_dataset_iam_member" "reader" {
  for_each   = toset(var.audit_readers)
  project    = var.project_id
  dataset_id = google_bigquery_dataset.audit.dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = each.value
}

# A query is a job: without bigquery.jobs.create in the project, Data Viewer alone cannot run `npm run audit:*`.
resource "google_project_iam_member" "audit_reader_job_user" {
  for_each = toset(var.audit_readers)
  project  = var.project_id
  role     = "roles/bigquery.jobUser"
  member   = each.value
}

# With CMEK, BigQuery's service agent must be able to use the key before the dataset exists.
data "google_bigquery_default_service_account" "this" {
  count   = var.audit_kms_key_name == null ? 0 : 1
  project = var.project_id
}

resource "google_kms_crypto_key_iam_member" "bigquery_cmek" {
  count         = var.audit_kms_key_name == null ? 0 : 1
  crypto_key_id = var.audit_kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = "serviceAccount:${data.google_bigquery_default_service_account.this[0].email}"
}
