output "url" {
  description = "NATS_URL for the platform."
  value       = "nats://nats.${var.namespace}.svc.cluster.local:4222"
}

output "values" {
  description = "The chart values, for tests and review."
  value       = local.values
}

output "release_name" {
  value = helm_release.nats.name
}
