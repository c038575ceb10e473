variable "name" {
  description = "Cluster identifier."
  type        = string
}

variable "vpc_id" {
  type = string
}

variable "subnet_ids" {
  description = "The database subnets (no internet route), one per zone."
  type        = list(string)
}

variable "azs" {
  description = "Zones the instances are spread over."
  type        = list(string)
}

variable "allowed_security_group_ids" {
  description = "Security groups that may connect on 27017 (the EKS cluster's)."
  type        = list(string)
}

variable "engine_version" {
  type    = string
  default = "5.0.0"
}

variable "instance_class" {
  type    = string
  default = "db.r6g.large"
}

variable "instance_count" {
  description = "Instances: 1 writer + readers; 3 puts one in each zone."
  type        = number
  default     = 3

  validation {
    condition     = var.instance_count >= 1 && var.instance_count <= 16
    error_message = "instance_count must be between 1 and 16."
  }
}

variable "master_username" {
  type    = string
  default = "bobaku"
}

variable "backup_retention_days" {
  description = "Days DocumentDB keeps its automatic snapshots (point-in-time restore window)."
  type        = number
  default     = 14
}

variable "rotation_days" {
  description = "Days between rotations of the master password (Secrets Manager); null keeps the default (7)."
  type        = number
  default     = 30
}

variable "deletion_protection" {
  type    = bool
  default = true
}

variable "tags" {
  type    = map(string)
  default = {}
}
