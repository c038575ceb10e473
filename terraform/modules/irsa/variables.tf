variable "name" {
  description = "The role's name."
  type        = string
}

variable "oidc_provider_arn" {
  description = "The EKS cluster's IAM OIDC provider."
  type        = string
}

variable "oidc_issuer" {
  description = "The cluster's OIDC issuer URL (https://oidc.eks...)."
  type        = string
}

variable "namespace" {
  description = "Namespace of the one service account that may assume the role."
  type        = string
}

variable "service_account" {
  description = "Name of that service account."
  type        = string
}

variable "policy_json" {
  description = "Inline policy (JSON); null for none."
  type        = string
  default     = null
}

variable "managed_policy_arns" {
  description = "Managed policies to attach."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags on the role."
  type        = map(string)
  default     = {}
}
