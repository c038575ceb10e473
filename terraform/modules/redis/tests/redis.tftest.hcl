# Needs the AWS provider in the mirror (not buildable here: docs/deployment.md).
mock_provider "aws" {}

variables {
  name                       = "bobaku-test"
  vpc_id                     = "vpc-1"
  subnet_ids                 = ["subnet-d1", "subnet-d2", "subnet-d3"]
  allowed_security_group_ids = ["sg-eks"]
}

run "encrypted_with_failover" {
  command = plan

  assert {
    condition     = aws_elasticache_replication_group.this.at_rest_encryption_enabled && aws_elasticache_replication_group.this.transit_encryption_enabled
    error_message = "Encrypted at rest and in transit."
  }
  assert {
    condition     = aws_elasticache_replication_group.this.num_cache_clusters == 3 && aws_elasticache_replication_group.this.automatic_failover_enabled && aws_elasticache_replication_group.this.multi_az_enabled
    error_message = "A primary and two replicas with automatic, multi-zone failover."
  }
  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.redis) == 1
    error_message = "Only the cluster's security group may connect."
  }
}
