# The function source: `npm run package` writes dist/function-source (compiled code, a package.json with the
# runtime dependencies only, the lock file); Terraform zips it and uploads it under its content hash, so a new
# build is a new object and redeploys the functions, and an unchanged build changes nothing.

data "archive_file" "function_source" {
  type        = "zip"
  source_dir  = "${path.module}/../dist/function-source"
  output_path = "${path.module}/../dist/function-source.zip"
  # Same bytes on every machine for the same build (package.ts also pins every file's mtime): otherwise each
  # CI run would upload a "new" archive and redeploy every function.
  output_file_mode = "0644"
}

resource "google_storage_bucket" "function_source" {
  name                        = "${var.project_id}-gateway-function-source"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  # Old archives are only needed for a rollback; keep them a quarter.
  lifecycle_rule {
    condition {
      age = 90
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.service]
}

resource "google_storage_bucket_object" "function_source" {
  name   = "function-source-${data.archive_file.function_source.output_sha256}.zip"
  bucket = google_storage_bucket.function_source.name
  source = data.archive_file.function_source.output_path
}
