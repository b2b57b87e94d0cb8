output "function_urls" {
  description = "URL of each function; also the audience of the ID tokens it accepts."
  value       = local.function_urls
}

output "inference_api_url" {
  description = "The inference API clinician apps call (POST /v1/inferences); ID-token audience."
  value       = local.function_urls["inference_api"]
}

output "reviewer_api_url" {
  description = "The reviewer API reviewers call; ID-token audience."
  value       = local.function_urls["reviewer_api"]
}

output "function_service_urls" {
  description = "The URL Cloud Run reports for each function (another name of the same service as function_urls)."
  value       = { for key, fn in google_cloudfunctions2_function.function : key => fn.service_config[0].uri }
}

output "function_service_accounts" {
  description = "Runtime service account of each function."
  value       = { for key, sa in google_service_account.function : key => sa.email }
}

output "topics" {
  description = "Pub/Sub topic names: review requests, their dead letters, escalations, review events and their dead letters."
  value       = { for key, topic in google_pubsub_topic.topic : key => topic.name }
}

output "subscriptions" {
  description = "Pub/Sub subscriptions: the intake push subscription, the dead-letter hold, the operators' escalations, the operators' review events and their dead-letter hold, and one per outside subscriber."
  value = merge(
    {
      review_intake             = google_pubsub_subscription.review_intake.name
      review_dead_letter        = google_pubsub_subscription.review_dead_letter.name
      review_escalations        = google_pubsub_subscription.review_escalations.name
      review_events_operators   = google_pubsub_subscription.review_events_operators.name
      review_events_dead_letter = google_pubsub_subscription.review_events_dead_letter.name
    },
    { for name, s in google_pubsub_subscription.review_events_subscriber : "review_events/${name}" => s.name },
  )
}

output "task_queues" {
  description = "Cloud Tasks queue names."
  value       = { for key, queue in google_cloud_tasks_queue.queue : key => queue.name }
}

output "audit_dataset" {
  description = "BigQuery dataset (project:dataset) holding the audit trail; the sink creates its tables, e.g. run_googleapis_com_stdout."
  value       = "${var.project_id}:${google_bigquery_dataset.audit.dataset_id}"
}

output "audit_sink_writer_identity" {
  description = "Identity the audit log sink writes to BigQuery as."
  value       = google_logging_project_sink.audit.writer_identity
}

output "secrets_to_fill" {
  description = "Secret Manager secret => the version the functions mount; each must exist (gcloud secrets versions add) before the functions can start."
  value = merge(
    {
      (google_secret_manager_secret.audit_hmac_key.secret_id)  = var.audit_hmac_key_version
      (google_secret_manager_secret.audit_chain_key.secret_id) = var.audit_chain_key_version
      (google_secret_manager_secret.webhook_secrets.secret_id) = var.webhook_secrets_version
    },
    { for env_name, s in var.provider_api_key_secrets : google_secret_manager_secret.provider_api_key[env_name].secret_id => s.version },
  )
}

output "function_source_object" {
  description = "The deployed source archive (gs://bucket/object, named by content hash)."
  value       = "gs://${google_storage_bucket.function_source.name}/${google_storage_bucket_object.function_source.name}"
}
