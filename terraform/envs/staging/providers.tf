provider "aws" {
  region = var.region

  default_tags {
    tags = {
      project     = "bobaku"
      environment = var.environment
    }
  }
}

# The cluster's own credentials for helm and kubectl: a token from `aws eks get-token`
# each run, so nothing long-lived is stored in the state.
locals {
  kube_exec = {
    api_version = "client.authentication.k8s.io/v1beta1"
    command     = "aws"
    args        = ["eks", "get-token", "--region", var.region, "--cluster-name", module.stack.cluster_name]
  }
}

provider "helm" {
  kubernetes {
    host                   = module.stack.cluster_endpoint
    cluster_ca_certificate = base64decode(module.stack.cluster_certificate_authority)
    load_config_file       = false
    exec {
      api_version = local.kube_exec.api_version
      command     = local.kube_exec.command
      args        = local.kube_exec.args
    }
  }
}

provider "kubectl" {
  host                   = module.stack.cluster_endpoint
  cluster_ca_certificate = base64decode(module.stack.cluster_certificate_authority)
  load_config_file       = false
  exec {
    api_version = local.kube_exec.api_version
    command     = local.kube_exec.command
    args        = local.kube_exec.args
  }
}
