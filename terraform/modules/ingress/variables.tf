variable "cluster_name" {
  type = string
}

variable "region" {
  type = string
}

variable "vpc_id" {
  type = string
}

variable "oidc_provider_arn" {
  type = string
}

variable "oidc_issuer" {
  type = string
}

variable "domain" {
  description = "The API's host name, e.g. api.bobaku.example (the gateway)."
  type        = string
}

variable "alternative_names" {
  description = "Other names on the certificate, e.g. hub.bobaku.example (websockets)."
  type        = list(string)
  default     = []
}

variable "zone_id" {
  description = "Route 53 hosted zone that validates the certificate."
  type        = string
}

variable "chart_repository" {
  description = "The eks-charts Helm repository (AWS's)."
  type        = string
  default     = "https://aws.github.io/eks-charts"
}

variable "chart_version" {
  type    = string
  default = "~1.14.0"
}

variable "tags" {
  type    = map(string)
  default = {}
}
