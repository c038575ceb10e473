# Needs the AWS provider in the mirror (not buildable here: docs/deployment.md).
mock_provider "aws" {}

variables {
  name                       = "bobaku-test"
  vpc_id                     = "vpc-1"
  subnet_ids                 = ["subnet-d1", "subnet-d2", "subnet-d3"]
  azs                        = ["ap-southeast-1a", "ap-southeast-1b", "ap-southeast-1c"]
  allowed_security_group_ids = ["sg-eks"]
}

run "encrypted_and_private" {
  command = plan

  assert {
    condition     = aws_docdb_cluster.this.storage_encrypted && aws_docdb_cluster.this.kms_key_id != null
    error_message = "Storage is encrypted with the module's KMS key."
  }
  assert {
    condition     = [for p in aws_docdb_cluster_parameter_group.this.parameter : p.value if p.name == "tls"] == ["enabled"]
    error_message = "TLS is required."
  }
  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.mongo) == 1 && aws_vpc_security_group_ingress_rule.mongo["sg-eks"].referenced_security_group_id == "sg-eks" && aws_vpc_security_group_ingress_rule.mongo["sg-eks"].cidr_ipv4 == null
    error_message = "Only the cluster's security group may connect; no address range."
  }
  assert {
    condition     = aws_docdb_subnet_group.this.subnet_ids == toset(var.subnet_ids)
    error_message = "The cluster lives in the database subnets."
  }
  assert {
    condition     = toset([for i in aws_docdb_cluster_instance.this : i.availability_zone]) == toset(var.azs)
    error_message = "Three instances, one per zone."
  }
  assert {
    condition     = aws_docdb_cluster.this.manage_master_user_password && aws_docdb_cluster.this.deletion_protection && !aws_docdb_cluster.this.skip_final_snapshot
    error_message = "Managed (rotated) password, deletion protection, a final snapshot."
  }
}
