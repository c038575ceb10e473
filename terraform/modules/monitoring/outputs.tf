output "values" {
  value = local.values
}

output "rule_groups" {
  description = "Names of the rule groups loaded from rules_file."
  value       = [for g in yamldecode(file(var.rules_file)).groups : g.name]
}
