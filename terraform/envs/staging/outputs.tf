output "cluster_name" {
  value = module.stack.cluster_name
}

output "ecr_repositories" {
  value = module.stack.ecr_repositories
}

output "certificate_arn" {
  value = module.stack.certificate_arn
}

output "operator_role_arn" {
  value = module.stack.operator_role_arn
}

output "backup_bucket" {
  value = module.stack.backup_bucket
}

output "backup_role_arn" {
  value = module.stack.backup_role_arn
}

output "mongodb_url_template" {
  value = module.stack.mongodb_url_template
}

output "mongodb_secret_arn" {
  value = module.stack.mongodb_secret_arn
}

output "redis_url_template" {
  value = module.stack.redis_url_template
}

output "redis_secret_arn" {
  value = module.stack.redis_secret_arn
}

output "jwt_secret_arn" {
  value = module.stack.jwt_secret_arn
}

output "nats_url" {
  value = module.stack.nats_url
}
