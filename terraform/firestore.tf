# Firestore (native mode): the idempotency ledger, inferences, reviews, the review outbox, breaker state and
# the pending copies of audit events (the audit outbox).
# Collection and field names are the code's (adapters/firestore/firestoreClient.ts `collections` and
# `ttlFields`); test/terraform checks that these match.

resource "google_firestore_database" "main" {
  project                           = var.project_id
  name                              = "(default)"
  location_id                       = var.firestore_location
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "PESSIMISTIC"
  app_engine_integration_mode       = "DISABLED"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  # Removing the resource from this configuration must never delete clinical data.
  deletion_policy = "ABANDON"

  depends_on = [google_project_service.service]
}

locals {
  # Documents expire through Firestore TTL policies on these fields (deletion happens within about a day;
  # the code also ignores an expired record at once, so TTL only reclaims storage).
  firestore_ttl_policies = {
    idempotency_keys = { collection = "idempotencyKeys", field = "expiresAt" } # ledger records, after their TTL
    breaker_buckets  = { collection = "breakerBuckets", field = "expiresAt" }  # breaker window counts
    review_outbox    = { collection = "reviewOutbox", field = "expiresAt" }    # delivered outbox entries only
    audit_pending    = { collection = "auditPending", field = "expiresAt" }    # a backstop: copies go within seconds
  }

  # Composite indexes the code's queries need. Fields are [path, ASCENDING | DESCENDING]. Add one entry per
  # new query shape; Firestore rejects a query that lacks its index with FAILED_PRECONDITION.
  # (The review request reconciliation's query, inferences where reviewRequestedAt <= t ordered by it, has one
  # field only: Firestore's automatic single-field index serves it, so it needs no entry here.)
  firestore_indexes = {
    reviews_by_tenant_state_age = {
      collection = "reviews"
      fields     = [["tenant", "ASCENDING"], ["state", "ASCENDING"], ["createdAt", "ASCENDING"]]
    }
    review_outbox_unpublished = {
      collection = "reviewOutbox"
      fields     = [["published", "ASCENDING"], ["createdAt", "ASCENDING"]]
    }
    inferences_by_tenant_age = {
      collection = "inferences"
      fields     = [["tenant", "ASCENDING"], ["createdAt", "ASCENDING"]]
    }
  }
}

resource "google_firestore_field" "ttl" {
  for_each   = local.firestore_ttl_policies
  project    = var.project_id
  database   = google_firestore_database.main.name
  collection = each.value.collection
  field      = each.value.field

  ttl_config {}

  # No single-field index on the expiry timestamp: nothing queries it, and an index on a monotonically
  # increasing value at 17 writes/s would be a write hotspot.
  index_config {}
}

resource "google_firestore_index" "composite" {
  for_each    = local.firestore_indexes
  project     = var.project_id
  database    = google_firestore_database.main.name
  collection  = each.value.collection
  query_scope = "COLLECTION"

  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path = fields.value[0]
      order      = fields.value[1]
    }
  }
}
