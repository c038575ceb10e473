variable "name" {
  description = "Bucket name (globally unique)."
  type        = string
}

variable "infrequent_access_after_days" {
  type    = number
  default = 30
}

variable "glacier_after_days" {
  type    = number
  default = 90
}

variable "expire_after_days" {
  description = "Backups are deleted after this many days."
  type        = number
  default     = 400

  validation {
    condition     = var.expire_after_days > 90
    error_message = "expire_after_days must exceed 90 (objects in Glacier Instant Retrieval are billed for 90 days)."
  }
}

variable "tags" {
  type    = map(string)
  default = {}
}
