variable "name" {
  type = string
}

variable "vpc_id" {
  type = string
}

variable "subnet_ids" {
  description = "The database subnets, one per zone."
  type        = list(string)
}

variable "allowed_security_group_ids" {
  description = "Security groups that may connect on 6379 (the EKS cluster's)."
  type        = list(string)
}

variable "engine_version" {
  type    = string
  default = "7.1"
}

variable "node_type" {
  type    = string
  default = "cache.r7g.large"
}

variable "nodes" {
  description = "Primary + replicas; 3 puts one in each zone."
  type        = number
  default     = 3
}

variable "snapshot_retention_days" {
  description = "Daily snapshots kept (0 turns them off: Redis holds only caches and claims)."
  type        = number
  default     = 1
}

variable "tags" {
  type    = map(string)
  default = {}
}
