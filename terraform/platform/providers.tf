# Both providers talk to the cluster of the kubeconfig given: on EKS the one
# `aws eks update-kubeconfig` writes, here the test's control plane.
provider "helm" {
  kubernetes {
    config_path    = var.kubeconfig
    config_context = var.kube_context
  }
}

provider "kubectl" {
  config_path      = var.kubeconfig
  config_context   = var.kube_context
  load_config_file = true
}
