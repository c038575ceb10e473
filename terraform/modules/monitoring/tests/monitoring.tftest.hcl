# The Prometheus stack's planned values with the providers mocked, and the platform's own
# rules loaded as a PrometheusRule.
mock_provider "helm" {}
mock_provider "kubectl" {}

variables {
  rules_file = "../../../monitoring/prometheus/rules/bobaku.yml"
}

run "rules_and_storage" {
  command = plan

  assert {
    condition     = yamldecode(nonsensitive(kubectl_manifest.rules.yaml_body)).spec.groups == yamldecode(file(var.rules_file)).groups
    error_message = "The PrometheusRule carries monitoring/prometheus/rules unchanged."
  }
  assert {
    condition     = contains(output.rule_groups, "bobaku-slo-recording")
    error_message = "The SLO recording rules are among the groups."
  }
  assert {
    condition     = yamldecode(helm_release.stack.values[0]).prometheus.prometheusSpec.storageSpec.volumeClaimTemplate.spec.storageClassName == "bobaku-gp3"
    error_message = "Prometheus keeps its data on the encrypted class."
  }
  assert {
    condition     = yamldecode(helm_release.stack.values[0]).prometheus.prometheusSpec.replicas == 2
    error_message = "Two Prometheus replicas."
  }
}
