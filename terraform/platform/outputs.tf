output "hosts" {
  description = "Host names per colour (the live colour has the public ones)."
  value       = local.hosts
}

output "franchises" {
  value = keys(local.franchises)
}

output "outlets" {
  description = "Outlet id => franchise id."
  value       = { for id, o in local.outlets : id => o.spec.franchiseRef }
}
