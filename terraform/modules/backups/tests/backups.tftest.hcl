# Needs the AWS provider in the mirror (not buildable here: docs/deployment.md).
mock_provider "aws" {}

variables {
  name = "bobaku-test-backups"
}

run "private_encrypted_with_lifecycle" {
  command = plan

  assert {
    condition = alltrue([
      aws_s3_bucket_public_access_block.this.block_public_acls,
      aws_s3_bucket_public_access_block.this.block_public_policy,
      aws_s3_bucket_public_access_block.this.ignore_public_acls,
      aws_s3_bucket_public_access_block.this.restrict_public_buckets,
    ])
    error_message = "Public access is blocked four ways."
  }
  assert {
    condition     = [for r in aws_s3_bucket_server_side_encryption_configuration.this.rule : r.apply_server_side_encryption_by_default[0].sse_algorithm] == ["aws:kms"]
    error_message = "Objects are encrypted with KMS."
  }
  assert {
    condition     = toset([for r in aws_s3_bucket_lifecycle_configuration.this.rule : r.id]) == toset(["mongodb", "jetstream", "abort-incomplete-uploads"])
    error_message = "Lifecycle rules for both kinds of backup."
  }
  assert {
    condition     = alltrue([for r in aws_s3_bucket_lifecycle_configuration.this.rule : r.expiration[0].days == 400 if r.id != "abort-incomplete-uploads"])
    error_message = "Backups expire after expire_after_days."
  }
}

run "expiry_before_glacier_minimum_is_refused" {
  command = plan

  variables {
    expire_after_days = 60
  }

  expect_failures = [var.expire_after_days]
}
