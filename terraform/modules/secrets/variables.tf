variable "name" {
  description = "Environment name: the secrets are <name>/..."
  type        = string
}

variable "rotation_package" {
  description = "Zip of rotation/jwt_keys.py with its dependency (scripts/terraform/package-rotation.sh builds it)."
  type        = string
}

variable "rotation_days" {
  description = "Days between JWT key rotations."
  type        = number
  default     = 30
}

variable "tags" {
  type    = map(string)
  default = {}
}
