output "primary_endpoint" {
  value = aws_elasticache_replication_group.this.primary_endpoint_address
}

output "auth_secret_arn" {
  value = aws_secretsmanager_secret.auth.arn
}

output "kms_key_arn" {
  value = aws_kms_key.this.arn
}

output "url_template" {
  description = "REDIS_URL without the token (rediss: TLS)."
  value       = "rediss://${aws_elasticache_replication_group.this.primary_endpoint_address}:6379/0"
}
