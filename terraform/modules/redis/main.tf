# ElastiCache for Redis: rate limits, caches, idempotency claims. A replication group with a
# replica in each other zone and automatic failover, encrypted at rest (KMS) and in transit,
# an AUTH token kept in Secrets Manager, reachable only from the EKS cluster.
resource "aws_kms_key" "this" {
  description         = "${var.name}: ElastiCache at rest and its AUTH token's secret"
  enable_key_rotation = true
  tags                = var.tags
}

resource "aws_elasticache_subnet_group" "this" {
  name       = var.name
  subnet_ids = var.subnet_ids
  tags       = var.tags
}

resource "aws_security_group" "this" {
  name        = "${var.name}-redis"
  description = "ElastiCache Redis from the EKS cluster only"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "redis" {
  for_each                     = toset(var.allowed_security_group_ids)
  security_group_id            = aws_security_group.this.id
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
  description                  = "Redis from ${each.value}"
}

# The AUTH token: generated once by Secrets Manager, then kept (a rotation replaces it
# through ElastiCache's ROTATE strategy, both tokens valid meanwhile).
data "aws_secretsmanager_random_password" "auth" {
  password_length     = 64
  exclude_punctuation = true
}

resource "aws_secretsmanager_secret" "auth" {
  name       = "${var.name}/redis-auth"
  kms_key_id = aws_kms_key.this.arn
  tags       = var.tags
}

resource "aws_secretsmanager_secret_version" "auth" {
  secret_id     = aws_secretsmanager_secret.auth.id
  secret_string = data.aws_secretsmanager_random_password.auth.random_password

  lifecycle {
    ignore_changes = [secret_string]
  }
}

resource "aws_elasticache_parameter_group" "this" {
  name   = var.name
  family = "redis7"

  # Caches and rate-limit windows may be evicted; idempotency claims carry TTLs.
  parameter {
    name  = "maxmemory-policy"
    value = "volatile-lru"
  }
}

resource "aws_elasticache_replication_group" "this" {
  replication_group_id = var.name
  description          = "${var.name}: BobaKu rate limits, caches, idempotency"
  engine               = "redis"
  engine_version       = var.engine_version
  node_type            = var.node_type
  port                 = 6379
  parameter_group_name = aws_elasticache_parameter_group.this.name
  subnet_group_name    = aws_elasticache_subnet_group.this.name
  security_group_ids   = [aws_security_group.this.id]

  num_cache_clusters         = var.nodes
  automatic_failover_enabled = var.nodes > 1
  multi_az_enabled           = var.nodes > 1

  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.this.arn
  transit_encryption_enabled = true
  auth_token                 = aws_secretsmanager_secret_version.auth.secret_string
  auth_token_update_strategy = "ROTATE"

  snapshot_retention_limit   = var.snapshot_retention_days
  snapshot_window            = "17:00-18:00"
  maintenance_window         = "sun:20:30-sun:21:30"
  auto_minor_version_upgrade = true
  apply_immediately          = false
  tags                       = var.tags
}
