output "endpoint" {
  description = "The writer endpoint."
  value       = aws_docdb_cluster.this.endpoint
}

output "reader_endpoint" {
  value = aws_docdb_cluster.this.reader_endpoint
}

output "master_secret_arn" {
  description = "Secrets Manager secret with the (rotated) master credentials."
  value       = aws_docdb_cluster.this.master_user_secret[0].secret_arn
}

output "kms_key_arn" {
  value = aws_kms_key.this.arn
}

output "security_group_id" {
  value = aws_security_group.this.id
}

# DocumentDB has no retryable writes: the platform's MONGODB_URL must say retryWrites=false.
output "url_template" {
  description = "MONGODB_URL without credentials (the operator fills them in from the secret)."
  value       = "mongodb://${aws_docdb_cluster.this.endpoint}:27017/?tls=true&replicaSet=rs0&readPreference=secondaryPreferred&retryWrites=false"
}
