variable "prefix" {
  description = "Repository prefix (the chart's image.registry is <account>.dkr.ecr.<region>.amazonaws.com/<prefix>)."
  type        = string
  default     = "bobaku"
}

variable "repositories" {
  type    = list(string)
  default = ["bobaku-platform", "bobaku-operator"]
}

variable "keep_images" {
  description = "Tagged images kept per repository (enough for blue/green and a rollback or two)."
  type        = number
  default     = 30
}

variable "tags" {
  type    = map(string)
  default = {}
}
