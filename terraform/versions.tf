terraform {
  required_version = ">= 1.6.0, < 2.0.0"

  required_providers {
    # 7.45 fixes the dataset IAM overwrite that google_bigquery_dataset_iam_member grants next to the
    # dataset's own access list would hit (bigquery.tf). Exact builds: .terraform.lock.hcl (docs/deployment.md).
    google = {
      source  = "hashicorp/google"
      version = ">= 7.45.0, < 8.0.0"
    }
    google-beta = {
      source  = "hashicorp/google-beta"
      version = ">= 7.45.0, < 8.0.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.7"
    }
    # time_sleep: alert policies wait for new log-based metrics to become visible (monitoring.tf).
    time = {
      source  = "hashicorp/time"
      version = "~> 0.13"
    }
  }

  # State lives in a GCS bucket created once by hand (docs/deployment.md). The bucket and prefix are
  # given at init time, so the same code serves every environment:
  #   terraform init -backend-config="bucket=STATE_BUCKET" -backend-config="prefix=clinical-ai-gateway"
  backend "gcs" {}
}
