output "certificate_arn" {
  description = "The validated certificate, for the platform layer's Ingress."
  value       = aws_acm_certificate_validation.this.certificate_arn
}

output "controller_role_arn" {
  value = module.controller_role.arn
}
