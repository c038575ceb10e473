variable "namespace" {
  type    = string
  default = "nats"
}

variable "chart_repository" {
  description = "The NATS Helm chart repository (nats-io's)."
  type        = string
  default     = "https://nats-io.github.io/k8s/helm/charts/"
}

variable "chart_version" {
  type    = string
  default = "~1.3.0"
}

variable "replicas" {
  description = "NATS servers; 3 (one per zone) is the least that keeps R3 streams writable through a zone's loss."
  type        = number
  default     = 3

  validation {
    condition     = var.replicas >= 3 && var.replicas % 2 == 1
    error_message = "replicas must be odd and at least 3 (JetStream's Raft needs a majority)."
  }
}

variable "storage_class" {
  type    = string
  default = "bobaku-gp3"
}

variable "storage_size" {
  description = "JetStream file storage per server."
  type        = string
  default     = "50Gi"
}

variable "kms_key_arn" {
  description = "KMS key for the volumes; null uses the account's default EBS key."
  type        = string
  default     = null
}

variable "cpu" {
  type    = string
  default = "1"
}

variable "memory" {
  type    = string
  default = "2Gi"
}

variable "node_selector" {
  description = "Where the NATS pods run (the platform node group)."
  type        = map(string)
  default     = { "bobaku.io/node-group" = "platform" }
}

variable "pod_monitor" {
  description = "A PodMonitor for the exporter (needs the Prometheus operator's CRDs)."
  type        = bool
  default     = true
}
