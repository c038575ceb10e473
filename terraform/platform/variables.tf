variable "kubeconfig" {
  description = "Path of the kubeconfig of the cluster to install into."
  type        = string
}

variable "kube_context" {
  description = "Context in that kubeconfig; null uses its current context."
  type        = string
  default     = null
}

variable "chart_path" {
  description = "The platform chart (charts/bobaku of this repository)."
  type        = string
  default     = null
}

variable "image_registry" {
  description = "Registry and prefix of the images (the ECR repositories' prefix in AWS)."
  type        = string
}

variable "operator_image_tag" {
  description = "Tag of the release that runs the operator (and installs the CRDs and HQ's config)."
  type        = string
}

variable "environment" {
  description = "The platform's ENVIRONMENT (staging, production, test)."
  type        = string
  default     = "production"
}

variable "releases" {
  description = <<-EOT
    The platform's releases side by side (blue/green): by colour, the image tag and any
    further chart values. Each runs in its own namespace bobaku-<colour>.
  EOT
  type = map(object({
    image_tag = string
    values    = optional(any, {})
  }))

  validation {
    condition     = length(var.releases) >= 1 && alltrue([for c in keys(var.releases) : can(regex("^[a-z][a-z0-9]{0,15}$", c))])
    error_message = "releases needs at least one colour; colours are lower-case names of at most 16 characters."
  }
}

variable "live" {
  description = "The colour the public hosts route to; the others get preview hosts (<colour>-<host>)."
  type        = string
}

variable "servers" {
  description = "Where the platform's NATS, Redis and MongoDB are (the AWS root's outputs)."
  type = object({
    nats_url            = string
    redis_url           = string
    mongodb_secret_name = string
  })
}

variable "jwt_secret_name" {
  description = "The Secret (public.pem, private.pem) External Secrets syncs from Secrets Manager; empty for none."
  type        = string
  default     = ""
}

variable "ingress" {
  description = "The Ingress to the gateway and the hub; enabled false creates none."
  type = object({
    enabled         = bool
    api_host        = string
    hub_host        = string
    class_name      = optional(string, "alb")
    certificate_arn = optional(string, "")
    group_name      = optional(string, "bobaku")
  })
}

variable "franchises" {
  description = "Franchises to onboard, by id, each with its outlets by id (the Franchise and Outlet CRs' specs)."
  type = map(object({
    display_name = string
    tier         = optional(string, "small")
    owner        = optional(string)
    retention    = optional(string, "Retain")
    config       = optional(any, {})
    outlets = optional(map(object({
      display_name = string
      city         = optional(string)
      address      = optional(string)
      phone        = optional(string)
      stations     = optional(number, 2)
      config       = optional(any, {})
    })), {})
  }))
  default = {}

  validation {
    condition     = alltrue([for id, f in var.franchises : can(regex("^[a-z0-9][a-z0-9-]{0,40}$", id)) && contains(["small", "medium", "large"], f.tier)])
    error_message = "Franchise ids are lower-case letters, digits and '-' (at most 41); tier is small, medium or large."
  }
}

variable "wait" {
  description = "Wait for the releases' pods to be ready (false where no node runs pods)."
  type        = bool
  default     = true
}
