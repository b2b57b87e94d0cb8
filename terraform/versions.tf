terraform {
  required_version = ">= 1.6.0, < 2.0.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 7.0"
    }
    google-beta = {
      source  = "hashicorp/google-beta"
      version = "~> 7.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.7"
    }
  }

  # State lives in a GCS bucket created once by hand (README: "Deployment"). The bucket and prefix are
  # given at init time, so the same code serves every environment:
  #   terraform init -backend-config="bucket=STATE_BUCKET" -backend-config="prefix=clinical-ai-gateway"
  backend "gcs" {}
}
