output "jwt_secret_arn" {
  value = aws_secretsmanager_secret.jwt.arn
}

output "kms_key_arn" {
  value = aws_kms_key.this.arn
}
