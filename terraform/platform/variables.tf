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
    The platform's releases side by side (blue/green), by colour: { image_tag = "1.4.0",
    values = { ...further chart values... } }. Each runs in its own namespace bobaku-<colour>.
    (Typed `any` so each colour's values may differ in shape; normalised in main.tf.)
  EOT
  type        = any

  validation {
    condition = length(keys(var.releases)) >= 1 && alltrue([
      for c, r in var.releases : can(regex("^[a-z][a-z0-9]{0,15}$", c)) && can(tostring(r.image_tag))
    ])
    error_message = "releases needs at least one colour, each a lower-case name of at most 16 characters with an image_tag."
  }
}

variable "live" {
  description = "The colour the public hosts route to; the others get preview hosts (<colour>-<host>)."
  type        = string
}

variable "servers" {
  description = "Where the platform's NATS, Redis and MongoDB are (the AWS root's outputs); required unless in_cluster_servers."
  type = object({
    nats_url            = string
    redis_url           = string
    mongodb_secret_name = string
  })
  default = null
}

variable "in_cluster_servers" {
  description = <<-EOT
    Test clusters only: the chart's single-node NATS, Redis and MongoDB (no persistence
    unless operator_values sets nats.hostPath) run by the operator's release in
    bobaku-system, and every colour pointed at them; servers is then not used.
  EOT
  type        = bool
  default     = false
}

variable "operator_values" {
  description = "Further chart values for the operator's release (bobaku in bobaku-system), over the layer's own."
  type        = any
  default     = {}
}

variable "service_token_secret_name" {
  description = "The Secret (key SERVICE_TOKEN) each process presents on the others' internal endpoints, in bobaku-system and every colour's namespace; empty for none."
  type        = string
  default     = ""
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
  description = <<-EOT
    Franchises to onboard, by id (the Franchise and Outlet resources' specs):
      { display_name, tier = small|medium|large, owner, retention = Retain|Delete, config = {...},
        outlets = { <outlet id> = { display_name, city, address, phone, stations, config } } }
    Outlet ids are cluster-wide: unique across franchises. (Typed `any` so each config may
    have its own shape; normalised in main.tf.)
  EOT
  type        = any
  default     = {}

  validation {
    condition = alltrue([
      for id, f in var.franchises :
      can(regex("^[a-z0-9][a-z0-9-]{0,40}$", id)) && can(tostring(f.display_name)) &&
      contains(["small", "medium", "large"], try(f.tier, "small")) &&
      contains(["Retain", "Delete"], try(f.retention, "Retain")) &&
      alltrue([for oid, o in try(f.outlets, {}) : can(regex("^[a-z0-9]([a-z0-9-]{0,54}[a-z0-9])?$", oid)) && can(tostring(o.display_name))])
    ])
    error_message = "Franchise ids: lower-case letters, digits, '-' (at most 41); each needs display_name; tier small, medium or large; retention Retain or Delete; outlet ids as the Outlet CRD says, each with display_name."
  }

  validation {
    condition     = length(flatten([for f in values(var.franchises) : keys(try(f.outlets, {}))])) == length(distinct(flatten([for f in values(var.franchises) : keys(try(f.outlets, {}))])))
    error_message = "An outlet id is used by two franchises: Outlets are cluster-scoped, ids must be unique."
  }
}

variable "wait" {
  description = "Wait for the releases' pods to be ready and, on destroy, for the operator to retire the Franchise and Outlet resources (false where no node runs pods or controllers)."
  type        = bool
  default     = true
}
