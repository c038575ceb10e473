output "cluster_name" {
  value = module.eks.name
}

output "cluster_endpoint" {
  value = module.eks.endpoint
}

output "cluster_certificate_authority" {
  value = module.eks.certificate_authority
}

output "ecr_repositories" {
  value = module.ecr.repository_urls
}

output "certificate_arn" {
  value = module.ingress.certificate_arn
}

output "operator_role_arn" {
  value = module.operator_role.arn
}

output "backup_role_arn" {
  value = module.backup_role.arn
}

output "backup_bucket" {
  value = module.backups.bucket
}

output "mongodb_url_template" {
  value = module.database.url_template
}

output "mongodb_secret_arn" {
  value = module.database.master_secret_arn
}

output "redis_url_template" {
  value = module.redis.url_template
}

output "redis_secret_arn" {
  value = module.redis.auth_secret_arn
}

output "jwt_secret_arn" {
  value = module.secrets.jwt_secret_arn
}

output "nats_url" {
  value = module.nats.url
}
