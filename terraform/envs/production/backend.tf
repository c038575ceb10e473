# Remote state in S3 with S3-native locking (a lock object beside the state; OpenTofu >= 1.10,
# Terraform >= 1.10). The bucket comes from terraform/bootstrap:
#   tofu init -backend-config="bucket=$(tofu -chdir=../../bootstrap output -raw state_bucket)"
terraform {
  backend "s3" {
    key          = "production/platform.tfstate"
    region       = "ap-southeast-1"
    encrypt      = true
    use_lockfile = true
  }
}
