variable "name" {
  description = "Cluster name."
  type        = string
}

variable "kubernetes_version" {
  description = "EKS Kubernetes version (the chart's namespace guard needs >= 1.30)."
  type        = string
  default     = "1.34"
}

variable "subnet_ids" {
  description = "Private subnets (one per zone) for the control plane's interfaces and the nodes."
  type        = list(string)
}

variable "public_access_cidrs" {
  description = "Ranges that may reach the public API endpoint; empty keeps the endpoint private."
  type        = list(string)
  default     = []

  validation {
    condition     = !contains(var.public_access_cidrs, "0.0.0.0/0")
    error_message = "public_access_cidrs must not open the API endpoint to the whole internet."
  }
}

variable "node_groups" {
  description = "Managed node groups by name: platform (gateway, hub, shared services, NATS) and silos."
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

  validation {
    condition = alltrue([
      for g in values(var.node_groups) : g.min_size <= g.desired_size && g.desired_size <= g.max_size
    ])
    error_message = "Every node group needs min_size <= desired_size <= max_size."
  }
}

variable "log_retention_days" {
  description = "Days the control-plane logs are kept."
  type        = number
  default     = 90
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
