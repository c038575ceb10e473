# Production: one NAT gateway and one database instance per zone, on-demand nodes for the
# platform and the silos, deletion protection on.
module "stack" {
  source = "../../modules/stack"

  environment             = var.environment
  azs                     = var.azs
  vpc_cidr                = "10.20.0.0/16"
  single_nat_gateway      = false
  api_public_access_cidrs = var.api_public_access_cidrs
  api_domain              = var.api_domain
  hub_domain              = var.hub_domain
  zone_id                 = var.zone_id
  rotation_package        = var.rotation_package
  rules_file              = "${path.root}/../../../monitoring/prometheus/rules/bobaku.yml"

  node_groups = {
    platform = {
      instance_types = ["m7i.xlarge"]
      min_size       = 3
      desired_size   = 3
      max_size       = 9
    }
    silos = {
      instance_types = ["m7i.xlarge"]
      min_size       = 3
      desired_size   = 3
      max_size       = 30
      labels         = { "bobaku.io/silo" = "true" }
      taints         = [{ key = "bobaku.io/silo", value = "true", effect = "NO_SCHEDULE" }]
    }
  }

  database = {
    instance_class        = "db.r6g.large"
    instances             = 3
    backup_retention_days = 35
    deletion_protection   = true
  }

  redis = {
    node_type = "cache.r7g.large"
    nodes     = 3
  }

  nats = {
    replicas     = 3
    storage_size = "100Gi"
    memory       = "4Gi"
  }

  prometheus_storage_size  = "200Gi"
  backup_expire_after_days = 400
}
