variable "environment" {
  type = string
}

variable "region" {
  type    = string
  default = "ap-southeast-1"
}

variable "azs" {
  type    = list(string)
  default = ["ap-southeast-1a", "ap-southeast-1b", "ap-southeast-1c"]
}

variable "api_domain" {
  type = string
}

variable "hub_domain" {
  type = string
}

variable "zone_id" {
  type = string
}

variable "api_public_access_cidrs" {
  description = "The operators' VPN ranges that may reach the EKS API."
  type        = list(string)
  default     = []
}

variable "rotation_package" {
  description = "Zip built by scripts/terraform/package-rotation.sh."
  type        = string
  default     = "../../../.run/terraform/jwt-rotation.zip"
}
