# The message contract on Pub/Sub (docs/events.md): a schema per published topic, and the review lifecycle
# topic's subscriptions.
#
#   review-events ──▶ review-events-operators        (operators; ordered; dead letters ─▶ review-events-dead-letter)
#         └────────▶ review-events-<name>            (one per var.review_event_subscribers entry: filtered on its
#                                                     tenant, ordered, same dead-letter topic; its group may
#                                                     consume from it and nothing else)
#   review-events-dead-letter ──▶ review-events-dead-letter-hold

# Generated from the zod schemas the code publishes with (`npm run asyncapi`; a unit test fails if a file is
# stale). Revision policy: a changed definition is committed as a new revision of the same schema (the
# provider commits revisions rather than replacing the schema), and the topic accepts every revision, so
# only additive changes are allowed (messageContracts.ts); Pub/Sub keeps at most 20 revisions per schema,
# so an operator deletes revisions no publisher uses any more (`gcloud pubsub schemas delete-revision`).
resource "google_pubsub_schema" "message" {
  for_each   = local.schema_topics
  project    = var.project_id
  name       = local.topics[each.key]
  type       = "PROTOCOL_BUFFER"
  definition = file("${path.module}/schemas/${local.topics[each.key]}.proto")
  depends_on = [google_project_service.service]
}

# What operators watch: every tenant's review steps, in order per item. A message an operator's tool keeps
# failing on is set aside after var.dead_letter_max_delivery_attempts rather than blocking its item's key.
resource "google_pubsub_subscription" "review_events_operators" {
  project                    = var.project_id
  name                       = local.subscriptions.review_events_operators
  topic                      = google_pubsub_topic.topic["review_events"].id
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  enable_message_ordering    = true

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.topic["review_events_dead_letter"].id
    max_delivery_attempts = var.dead_letter_max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }
}

# One subscription per outside subscriber, filtered on its tenant by Pub/Sub itself: the group can never
# receive another tenant's events, whatever its code does.
resource "google_pubsub_subscription" "review_events_subscriber" {
  for_each                   = var.review_event_subscribers
  project                    = var.project_id
  name                       = "${local.topics.review_events}-${each.key}"
  topic                      = google_pubsub_topic.topic["review_events"].id
  filter                     = "attributes.tenant = \"${each.value.tenant}\""
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  enable_message_ordering    = true

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.topic["review_events_dead_letter"].id
    max_delivery_attempts = var.dead_letter_max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }
}

# Dead-lettered review events, kept for an operator as long as Pub/Sub allows (31 days).
resource "google_pubsub_subscription" "review_events_dead_letter" {
  project                    = var.project_id
  name                       = local.subscriptions.review_events_dead_letter
  topic                      = google_pubsub_topic.topic["review_events_dead_letter"].id
  ack_deadline_seconds       = 60
  message_retention_duration = local.pubsub_max_retention
  retain_acked_messages      = true
  expiration_policy {
    ttl = ""
  }
}

# The subscriber group's one grant: consume (pull, acknowledge) from its own subscription. Not the topic
# (it cannot attach another, unfiltered subscription), not the project, not publishing.
resource "google_pubsub_subscription_iam_member" "review_events_subscriber" {
  for_each     = var.review_event_subscribers
  project      = var.project_id
  subscription = google_pubsub_subscription.review_events_subscriber[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = "group:${each.value.group}"
}

# Dead-lettering from the review-events subscriptions: the service agent publishes to the dead-letter topic
# and acknowledges on the source subscription.
resource "google_pubsub_topic_iam_member" "review_events_dead_letter_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.topic["review_events_dead_letter"].name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_service_agent

  depends_on = [google_project_service_identity.pubsub]
}

resource "google_pubsub_subscription_iam_member" "review_events_dead_letter_source" {
  for_each = merge(
    { operators = google_pubsub_subscription.review_events_operators.name },
    { for name, s in google_pubsub_subscription.review_events_subscriber : name => s.name },
  )
  project      = var.project_id
  subscription = each.value
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent

  depends_on = [google_project_service_identity.pubsub]
}
