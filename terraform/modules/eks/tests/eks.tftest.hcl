# Needs the AWS provider in the mirror (not buildable here: docs/deployment.md).
mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_resource "aws_eks_cluster" {
    defaults = {
      identity = [{ oidc = [{ issuer = "https://oidc.eks.ap-southeast-1.amazonaws.com/id/TEST" }] }]
    }
  }
}

variables {
  name       = "bobaku-test"
  subnet_ids = ["subnet-a", "subnet-b", "subnet-c"]
  node_groups = {
    platform = { instance_types = ["m7i.large"], min_size = 3, desired_size = 3, max_size = 6 }
    silos = {
      instance_types = ["m7i.large"]
      min_size       = 1
      desired_size   = 2
      max_size       = 10
      taints         = [{ key = "bobaku.io/silo", value = "true", effect = "NO_SCHEDULE" }]
    }
  }
}

run "node_groups_and_encryption" {
  command = plan

  assert {
    condition     = aws_eks_node_group.this["platform"].scaling_config[0].min_size == 3 && aws_eks_node_group.this["platform"].scaling_config[0].max_size == 6
    error_message = "The platform group has the sizes given."
  }
  assert {
    condition     = aws_eks_node_group.this["silos"].scaling_config[0].desired_size == 2 && aws_eks_node_group.this["silos"].scaling_config[0].max_size == 10
    error_message = "The silo group has the sizes given."
  }
  assert {
    condition     = [for t in aws_eks_node_group.this["silos"].taint : t.key] == ["bobaku.io/silo"] && length(aws_eks_node_group.this["platform"].taint) == 0
    error_message = "Only the silo group is tainted."
  }
  assert {
    condition     = aws_eks_cluster.this.encryption_config[0].resources == toset(["secrets"])
    error_message = "Kubernetes Secrets are encrypted with the cluster's KMS key."
  }
  assert {
    condition     = aws_eks_cluster.this.vpc_config[0].endpoint_public_access == false && aws_eks_cluster.this.vpc_config[0].endpoint_private_access
    error_message = "Without allow-listed ranges the API endpoint is private only."
  }
  assert {
    condition     = aws_kms_key.secrets.enable_key_rotation
    error_message = "The key rotates."
  }
}

run "open_api_endpoint_is_refused" {
  command = plan

  variables {
    public_access_cidrs = ["0.0.0.0/0"]
  }

  expect_failures = [var.public_access_cidrs]
}

run "inconsistent_sizes_are_refused" {
  command = plan

  variables {
    node_groups = {
      platform = { instance_types = ["m7i.large"], min_size = 3, desired_size = 2, max_size = 6 }
    }
  }

  expect_failures = [var.node_groups]
}
