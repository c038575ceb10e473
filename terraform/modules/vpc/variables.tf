variable "name" {
  description = "Name of the environment (staging, production): prefixes every resource."
  type        = string
}

variable "region" {
  description = "AWS region, for the S3 gateway endpoint's service name."
  type        = string
}

variable "cluster_name" {
  description = "EKS cluster whose load balancers may use these subnets (subnet tags)."
  type        = string
}

variable "cidr" {
  description = "The VPC's address range; a /16 leaves room for three /19 pod subnets."
  type        = string
  default     = "10.20.0.0/16"

  validation {
    condition     = can(cidrhost(var.cidr, 0)) && tonumber(split("/", var.cidr)[1]) <= 16
    error_message = "cidr must be an IPv4 range of /16 or larger."
  }
}

variable "azs" {
  description = "Exactly three availability zones of the region."
  type        = list(string)

  validation {
    condition     = length(var.azs) == 3 && length(distinct(var.azs)) == 3
    error_message = "azs must name three distinct availability zones."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for the VPC instead of one per zone (cheaper, not zone-redundant)."
  type        = bool
  default     = false
}

variable "flow_logs_bucket_arn" {
  description = "S3 bucket for rejected-traffic flow logs; null turns them off."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
