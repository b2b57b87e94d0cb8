provider "google" {
  project        = var.project_id
  region         = var.region
  default_labels = var.labels
}

# Only for resources that exist in the beta API (the Pub/Sub service identity in pubsub.tf).
provider "google-beta" {
  project        = var.project_id
  region         = var.region
  default_labels = var.labels
}

data "google_project" "this" {
  project_id = var.project_id
}
