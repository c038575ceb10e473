# Staging: the production layout at the smallest size that still spans three zones (NATS
# needs three nodes for its R3 streams), one NAT gateway, no deletion protection.
module "stack" {
  source = "../../modules/stack"

  environment             = var.environment
  azs                     = var.azs
  vpc_cidr                = "10.30.0.0/16"
  single_nat_gateway      = true
  api_public_access_cidrs = var.api_public_access_cidrs
  api_domain              = var.api_domain
  hub_domain              = var.hub_domain
  zone_id                 = var.zone_id
  rotation_package        = var.rotation_package
  rules_file              = "${path.root}/../../../monitoring/prometheus/rules/bobaku.yml"

  node_groups = {
    platform = {
      instance_types = ["m7i.large"]
      min_size       = 3
      desired_size   = 3
      max_size       = 5
    }
    silos = {
      instance_types = ["m7i.large"]
      capacity_type  = "SPOT"
      min_size       = 1
      desired_size   = 1
      max_size       = 4
      labels         = { "bobaku.io/silo" = "true" }
      taints         = [{ key = "bobaku.io/silo", value = "true", effect = "NO_SCHEDULE" }]
    }
  }

  database = {
    instance_class        = "db.t4g.medium"
    instances             = 1
    backup_retention_days = 7
    deletion_protection   = false
  }

  redis = {
    node_type = "cache.t4g.small"
    nodes     = 2
  }

  nats = {
    replicas     = 3
    storage_size = "20Gi"
    memory       = "1Gi"
  }

  prometheus_storage_size  = "50Gi"
  backup_expire_after_days = 120
}
