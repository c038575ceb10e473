# One environment of the BobaKu platform on AWS, composed from the modules beside this one.
# The roots in terraform/envs/<environment> call it with their sizes.
data "aws_region" "this" {}
data "aws_caller_identity" "this" {}
data "aws_partition" "this" {}

locals {
  name      = "bobaku-${var.environment}"
  region    = data.aws_region.this.region
  partition = data.aws_partition.this.partition
  tags = merge(var.tags, {
    "bobaku.io/environment" = var.environment
    "managed-by"            = "opentofu"
  })
  platform_namespace = "bobaku-system"
}

module "vpc" {
  source             = "../vpc"
  name               = local.name
  region             = local.region
  cluster_name       = local.name
  cidr               = var.vpc_cidr
  azs                = var.azs
  single_nat_gateway = var.single_nat_gateway
  tags               = local.tags
}

module "eks" {
  source              = "../eks"
  name                = local.name
  kubernetes_version  = var.kubernetes_version
  subnet_ids          = module.vpc.private_subnet_ids
  public_access_cidrs = var.api_public_access_cidrs
  node_groups         = var.node_groups
  tags                = local.tags
}

module "database" {
  source                     = "../documentdb"
  name                       = local.name
  vpc_id                     = module.vpc.vpc_id
  subnet_ids                 = module.vpc.database_subnet_ids
  azs                        = var.azs
  allowed_security_group_ids = [module.eks.cluster_security_group_id]
  instance_class             = var.database.instance_class
  instance_count             = var.database.instances
  backup_retention_days      = var.database.backup_retention_days
  deletion_protection        = var.database.deletion_protection
  tags                       = local.tags
}

module "redis" {
  source                     = "../redis"
  name                       = local.name
  vpc_id                     = module.vpc.vpc_id
  subnet_ids                 = module.vpc.database_subnet_ids
  allowed_security_group_ids = [module.eks.cluster_security_group_id]
  node_type                  = var.redis.node_type
  nodes                      = var.redis.nodes
  tags                       = local.tags
}

module "ecr" {
  source = "../ecr"
  tags   = local.tags
}

module "secrets" {
  source           = "../secrets"
  name             = local.name
  rotation_package = var.rotation_package
  rotation_days    = var.jwt_rotation_days
  tags             = local.tags
}

module "backups" {
  source            = "../backups"
  name              = "${local.name}-backups-${data.aws_caller_identity.this.account_id}"
  expire_after_days = var.backup_expire_after_days
  tags              = local.tags
}

module "ingress" {
  source            = "../ingress"
  cluster_name      = module.eks.name
  region            = local.region
  vpc_id            = module.vpc.vpc_id
  oidc_provider_arn = module.eks.oidc_provider_arn
  oidc_issuer       = module.eks.oidc_issuer
  domain            = var.api_domain
  alternative_names = [var.hub_domain]
  zone_id           = var.zone_id
  tags              = local.tags
}

module "nats" {
  source       = "../nats"
  replicas     = var.nats.replicas
  storage_size = var.nats.storage_size
  memory       = var.nats.memory
  pod_monitor  = true
  depends_on   = [module.eks, module.monitoring]
}

module "monitoring" {
  source       = "../monitoring"
  rules_file   = var.rules_file
  storage_size = var.prometheus_storage_size
  depends_on   = [module.eks]
}

# ------------------------------------------------------------ roles for service accounts ---

data "aws_iam_policy_document" "read_secrets" {
  for_each = {
    # The operator reads the database's and Redis' credentials to hand each silo its own
    # connection settings; nothing else in AWS.
    operator = [module.database.master_secret_arn, module.redis.auth_secret_arn]
    # External Secrets syncs these three into the platform namespace.
    external-secrets = [module.database.master_secret_arn, module.redis.auth_secret_arn, module.secrets.jwt_secret_arn]
  }
  statement {
    sid       = "ReadTheseSecrets"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = each.value
  }
  statement {
    sid       = "DecryptThroughSecretsManager"
    actions   = ["kms:Decrypt"]
    resources = [module.database.kms_key_arn, module.redis.kms_key_arn, module.secrets.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com"]
    }
  }
}

module "operator_role" {
  source            = "../irsa"
  name              = "${local.name}-operator"
  oidc_provider_arn = module.eks.oidc_provider_arn
  oidc_issuer       = module.eks.oidc_issuer
  namespace         = local.platform_namespace
  service_account   = "bobaku-operator"
  policy_json       = data.aws_iam_policy_document.read_secrets["operator"].json
  tags              = local.tags
}

module "external_secrets_role" {
  source            = "../irsa"
  name              = "${local.name}-external-secrets"
  oidc_provider_arn = module.eks.oidc_provider_arn
  oidc_issuer       = module.eks.oidc_issuer
  namespace         = "external-secrets"
  service_account   = "external-secrets"
  policy_json       = data.aws_iam_policy_document.read_secrets["external-secrets"].json
  tags              = local.tags
}

# The backup CronJobs (mongodump, `nats stream backup`): write and read their prefixes of the
# backup bucket, and read the database credentials.
data "aws_iam_policy_document" "backup" {
  statement {
    actions   = ["s3:ListBucket"]
    resources = [module.backups.bucket_arn]
  }
  statement {
    actions   = ["s3:PutObject", "s3:GetObject"]
    resources = ["${module.backups.bucket_arn}/mongodb/*", "${module.backups.bucket_arn}/jetstream/*"]
  }
  statement {
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [module.backups.kms_key_arn]
  }
  statement {
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [module.database.master_secret_arn]
  }
  statement {
    actions   = ["kms:Decrypt"]
    resources = [module.database.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com"]
    }
  }
}

module "backup_role" {
  source            = "../irsa"
  name              = "${local.name}-backup"
  oidc_provider_arn = module.eks.oidc_provider_arn
  oidc_issuer       = module.eks.oidc_issuer
  namespace         = local.platform_namespace
  service_account   = "bobaku-backup"
  policy_json       = data.aws_iam_policy_document.backup.json
  tags              = local.tags
}

resource "helm_release" "external_secrets" {
  name             = "external-secrets"
  namespace        = "external-secrets"
  create_namespace = true
  repository       = var.external_secrets_chart_repository
  chart            = "external-secrets"
  version          = "~0.20.0"
  atomic           = true
  max_history      = 10
  values = [yamlencode({
    serviceAccount = {
      name        = "external-secrets"
      annotations = { "eks.amazonaws.com/role-arn" = module.external_secrets_role.arn }
    }
  })]
  depends_on = [module.eks]
}
