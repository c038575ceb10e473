variable "environment" {
  description = "staging or production."
  type        = string

  validation {
    condition     = contains(["staging", "production"], var.environment)
    error_message = "environment must be staging or production."
  }
}

variable "azs" {
  description = "Three availability zones of the region."
  type        = list(string)
}

variable "vpc_cidr" {
  type = string
}

variable "single_nat_gateway" {
  type    = bool
  default = false
}

variable "kubernetes_version" {
  type    = string
  default = "1.34"
}

variable "api_public_access_cidrs" {
  description = "Who may reach the EKS API endpoint from outside the VPC (the operators' VPN)."
  type        = list(string)
  default     = []
}

variable "node_groups" {
  description = "See modules/eks: platform and silos."
  type = map(object({
    instance_types = list(string)
    capacity_type  = optional(string, "ON_DEMAND")
    min_size       = number
    desired_size   = number
    max_size       = number
    disk_size_gib  = optional(number, 50)
    labels         = optional(map(string), {})
    taints = optional(list(object({
      key    = string
      value  = string
      effect = string
    })), [])
  }))
}

variable "database" {
  type = object({
    instance_class        = string
    instances             = number
    backup_retention_days = number
    deletion_protection   = bool
  })
}

variable "redis" {
  type = object({
    node_type = string
    nodes     = number
  })
}

variable "nats" {
  type = object({
    replicas     = number
    storage_size = string
    memory       = string
  })
}

variable "prometheus_storage_size" {
  type    = string
  default = "100Gi"
}

variable "api_domain" {
  description = "Host name of the API (gateway)."
  type        = string
}

variable "hub_domain" {
  description = "Host name of the hub (websockets)."
  type        = string
}

variable "zone_id" {
  description = "Route 53 zone of api_domain and hub_domain."
  type        = string
}

variable "rotation_package" {
  description = "The JWT rotation Lambda's zip (scripts/terraform/package-rotation.sh)."
  type        = string
}

variable "jwt_rotation_days" {
  type    = number
  default = 30
}

variable "backup_expire_after_days" {
  type    = number
  default = 400
}

variable "rules_file" {
  description = "monitoring/prometheus/rules/bobaku.yml of this repository."
  type        = string
}

variable "external_secrets_chart_repository" {
  type    = string
  default = "https://charts.external-secrets.io"
}

variable "tags" {
  type    = map(string)
  default = {}
}
