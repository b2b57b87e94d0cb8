# Review requests flow inference API -> topic review-requests -> push subscription -> review-intake.
#
# The intake subscription is a push subscription owned here rather than the one a Cloud Functions event
# trigger creates: Eventarc owns and names its subscription, so Terraform could not give it a dead-letter
# policy. The Functions Framework turns a Pub/Sub push request into the same CloudEvent
# (google.cloud.pubsub.topic.v1.messagePublished) the function would get from Eventarc, and a non-2xx
# answer makes Pub/Sub redeliver with backoff, as RETRY_POLICY_RETRY would; after
# dead_letter_max_delivery_attempts the message moves to review-requests-dead-letter, where a subscription
# keeps it for an operator.

resource "google_pubsub_topic" "topic" {
  for_each = local.topics
  project  = var.project_id
  name     = each.value
  # Messages stay replayable (seek) for a week even after delivery.
  message_retention_duration = "604800s"

  # The topic refuses a message that does not fit its schema (review_events.tf), whichever revision.
  dynamic "schema_settings" {
    for_each = contains(local.schema_topics, each.key) ? [google_pubsub_schema.message[each.key].id] : []
    content {
      schema   = schema_settings.value
      encoding = "JSON"
    }
  }

  depends_on = [google_project_service.service]
}

# The Pub/Sub service agent; it performs dead-lettering and signs push requests. The identity resource makes
# sure the agent exists in a fresh project before it is granted anything.
resource "google_project_service_identity" "pubsub" {
  provider   = google-beta
  project    = var.project_id
  service    = "pubsub.googleapis.com"
  depends_on = [google_project_service.service]
}

locals {
  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
  # The longest a subscription may keep a message: 31 days.
  pubsub_max_retention = "2678400s"
}

resource "google_pubsub_subscription" "review_intake" {
  project              = var.project_id
  name                 = local.subscriptions.review_intake
  topic                = google_pubsub_topic.topic["review_requests"].id
  ack_deadline_seconds = local.function_sizing["review_intake"].timeout_seconds
  # An undelivered clinical review request is kept as long as Pub/Sub allows (31 days), not the default 7.
  message_retention_duration = local.pubsub_max_retention

  push_config {
    # The path names the topic so the Functions Framework sets the CloudEvent's source correctly.
    push_endpoint = "${google_cloudfunctions2_function.function["review_intake"].service_config[0].uri}/projects/${var.project_id}/topics/${google_pubsub_topic.topic["review_requests"].name}"
    oidc_token {
      service_account_email = google_service_account.review_push.email
      audience              = local.function_urls["review_intake"]
    }
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.topic["review_dead_letter"].id
    max_delivery_attempts = var.dead_letter_max_delivery_attempts
  }

  expiration_policy {
    ttl = "" # never expires, however quiet the topic
  }

  lifecycle {
    precondition {
      condition     = local.function_sizing["review_intake"].timeout_seconds >= 10 && local.function_sizing["review_intake"].timeout_seconds <= 600
      error_message = "review-intake's timeout is the push subscription's ack deadline, which Pub/Sub bounds to 10-600 s."
    }
  }
}

# Dead letters are kept here until an operator looks at them, for the longest Pub/Sub allows (31 days); the
# dead-letter alert fires at once, and again when one has waited a day.
resource "google_pubsub_subscription" "review_dead_letter" {
  project                    = var.project_id
  name                       = local.subscriptions.review_dead_letter
  topic                      = google_pubsub_topic.topic["review_dead_letter"].id
  ack_deadline_seconds       = 60
  message_retention_duration = local.pubsub_max_retention
  retain_acked_messages      = true
  expiration_policy {
    ttl = ""
  }
}

# Overdue reviews (published by review-jobs) for the operators' tooling or on-call.
resource "google_pubsub_subscription" "review_escalations" {
  project                    = var.project_id
  name                       = local.subscriptions.review_escalations
  topic                      = google_pubsub_topic.topic["review_escalations"].id
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  expiration_policy {
    ttl = ""
  }
}

# Dead-lettering: the service agent publishes to the dead-letter topic and acknowledges on the source.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.topic["review_dead_letter"].name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_service_agent

  depends_on = [google_project_service_identity.pubsub]
}

resource "google_pubsub_subscription_iam_member" "dead_letter_source_subscriber" {
  project      = var.project_id
  subscription = google_pubsub_subscription.review_intake.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent

  depends_on = [google_project_service_identity.pubsub]
}

# Push with an OIDC token: the service agent mints tokens for the push account.
resource "google_service_account_iam_member" "pubsub_signs_push_tokens" {
  service_account_id = google_service_account.review_push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent

  depends_on = [google_project_service_identity.pubsub]
}
