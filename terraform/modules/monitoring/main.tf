# The Prometheus stack (kube-prometheus-stack: Prometheus operator, Prometheus, Alertmanager,
# Grafana, node exporter, kube-state-metrics) with persistent, encrypted storage, and the
# platform's own rules from monitoring/prometheus/rules as a PrometheusRule, so the alerts
# that promtool tests locally are the ones that fire in the cloud.
locals {
  values = {
    prometheus = {
      prometheusSpec = {
        retention                               = var.retention
        podMonitorSelectorNilUsesHelmValues     = false
        serviceMonitorSelectorNilUsesHelmValues = false
        ruleSelectorNilUsesHelmValues           = false
        replicas                                = var.prometheus_replicas
        nodeSelector                            = var.node_selector
        storageSpec = {
          volumeClaimTemplate = {
            spec = {
              storageClassName = var.storage_class
              accessModes      = ["ReadWriteOnce"]
              resources        = { requests = { storage = var.storage_size } }
            }
          }
        }
      }
    }
    alertmanager = {
      alertmanagerSpec = { replicas = var.alertmanager_replicas, nodeSelector = var.node_selector }
    }
    grafana = {
      persistence  = { enabled = true, storageClassName = var.storage_class, size = "10Gi" }
      nodeSelector = var.node_selector
    }
  }
}

resource "helm_release" "stack" {
  name             = "monitoring"
  namespace        = var.namespace
  create_namespace = true
  repository       = var.chart_repository
  chart            = "kube-prometheus-stack"
  version          = var.chart_version
  values           = [yamlencode(local.values)]
  atomic           = true
  timeout          = 900
  max_history      = 10
}

resource "kubectl_manifest" "rules" {
  yaml_body = yamlencode({
    apiVersion = "monitoring.coreos.com/v1"
    kind       = "PrometheusRule"
    metadata   = { name = "bobaku", namespace = var.namespace }
    spec       = yamldecode(file(var.rules_file))
  })
  depends_on = [helm_release.stack]
}
