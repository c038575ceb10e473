# Amazon DocumentDB (MongoDB 5.0 wire compatibility): the platform database and one
# database per franchise. Only inside the VPC (DocumentDB has no public endpoint at all), in
# the database subnets, reachable on 27017 only from the EKS cluster's security group;
# storage encrypted with a KMS key of its own; TLS required; the master password managed
# and rotated by Secrets Manager; daily snapshots kept backup_retention_days.
resource "aws_kms_key" "this" {
  description         = "${var.name}: DocumentDB storage and snapshots"
  enable_key_rotation = true
  tags                = var.tags
}

resource "aws_docdb_subnet_group" "this" {
  name       = var.name
  subnet_ids = var.subnet_ids
  tags       = var.tags
}

resource "aws_security_group" "this" {
  name        = "${var.name}-docdb"
  description = "DocumentDB: MongoDB wire from the EKS cluster only"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "mongo" {
  for_each                     = toset(var.allowed_security_group_ids)
  security_group_id            = aws_security_group.this.id
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 27017
  to_port                      = 27017
  description                  = "MongoDB wire from ${each.value}"
}

resource "aws_docdb_cluster_parameter_group" "this" {
  name   = var.name
  family = "docdb5.0"

  parameter {
    name  = "tls"
    value = "enabled"
  }
  parameter {
    name  = "audit_logs"
    value = "enabled"
  }
  parameter {
    name  = "profiler"
    value = "enabled"
  }
  parameter {
    name  = "profiler_threshold_ms"
    value = "200"
  }

  tags = var.tags
}

resource "aws_docdb_cluster" "this" {
  cluster_identifier              = var.name
  engine                          = "docdb"
  engine_version                  = var.engine_version
  master_username                 = var.master_username
  manage_master_user_password     = true
  master_user_secret_kms_key_id   = aws_kms_key.this.arn
  db_subnet_group_name            = aws_docdb_subnet_group.this.name
  vpc_security_group_ids          = [aws_security_group.this.id]
  db_cluster_parameter_group_name = aws_docdb_cluster_parameter_group.this.name
  port                            = 27017

  storage_encrypted = true
  kms_key_id        = aws_kms_key.this.arn

  backup_retention_period      = var.backup_retention_days
  preferred_backup_window      = "18:00-19:00"
  preferred_maintenance_window = "sun:19:30-sun:20:30"
  deletion_protection          = var.deletion_protection
  skip_final_snapshot          = false
  final_snapshot_identifier    = "${var.name}-final"

  enabled_cloudwatch_logs_exports = ["audit", "profiler"]
  tags                            = var.tags
}

# One writer and readers spread over the zones: a zone's loss promotes a reader.
resource "aws_docdb_cluster_instance" "this" {
  count                      = var.instance_count
  identifier                 = "${var.name}-${count.index}"
  cluster_identifier         = aws_docdb_cluster.this.id
  instance_class             = var.instance_class
  availability_zone          = var.azs[count.index % length(var.azs)]
  auto_minor_version_upgrade = true
  ca_cert_identifier         = "rds-ca-rsa2048-g1"
  tags                       = var.tags
}

resource "aws_secretsmanager_secret_rotation" "master" {
  count     = var.rotation_days == null ? 0 : 1
  secret_id = aws_docdb_cluster.this.master_user_secret[0].secret_arn
  rotation_rules {
    automatically_after_days = var.rotation_days
  }
}
