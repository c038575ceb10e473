variable "namespace" {
  type    = string
  default = "monitoring"
}

variable "chart_repository" {
  description = "The prometheus-community Helm chart repository."
  type        = string
  default     = "https://prometheus-community.github.io/helm-charts"
}

variable "chart_version" {
  type    = string
  default = "~79.0.0"
}

variable "rules_file" {
  description = "The platform's Prometheus rules (groups: ...)."
  type        = string
}

variable "retention" {
  type    = string
  default = "15d"
}

variable "storage_class" {
  type    = string
  default = "bobaku-gp3"
}

variable "storage_size" {
  type    = string
  default = "100Gi"
}

variable "prometheus_replicas" {
  type    = number
  default = 2
}

variable "alertmanager_replicas" {
  type    = number
  default = 3
}

variable "node_selector" {
  type    = map(string)
  default = { "bobaku.io/node-group" = "platform" }
}
