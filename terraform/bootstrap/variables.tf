variable "project_id" {
  description = "Google Cloud project that hosts the gateway (the same as the gateway module's)."
  type        = string
}

variable "region" {
  description = "Region of the gateway's functions; passed to the builds as _REGION."
  type        = string
  default     = "us-central1"
}

variable "state_bucket" {
  description = "The GCS bucket holding Terraform state and config/terraform.tfvars (created once with gcloud)."
  type        = string
}

variable "github_owner" {
  description = "Owner (organisation or user) of the GitHub repository connected to Cloud Build."
  type        = string
}

variable "github_repository" {
  description = "Name of the GitHub repository connected to Cloud Build."
  type        = string
}

variable "deploy_branch" {
  description = "The only branch whose builds may apply (the apply trigger matches exactly this name)."
  type        = string
  default     = "main"
  validation {
    condition     = can(regex("^[A-Za-z0-9._/-]+$", var.deploy_branch))
    error_message = "deploy_branch must be a plain branch name, not a pattern."
  }
}

variable "trigger_location" {
  description = "Location of the two Cloud Build triggers (global for a repository connected through the Cloud Build GitHub App)."
  type        = string
  default     = "global"
}

variable "deploy_approvers" {
  description = "Members (group:..., user:...) who may approve an apply build (roles/cloudbuild.builds.approver)."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for m in var.deploy_approvers : can(regex("^(user|group):[^@\\s]+@[^@\\s]+$", m))])
    error_message = "deploy_approvers must be user: or group: members."
  }
}

output "plan_service_account" {
  description = "The account plan builds run as."
  value       = google_service_account.plan.email
}

output "apply_service_account" {
  description = "The account apply builds run as."
  value       = google_service_account.apply.email
}
