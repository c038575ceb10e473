# Needs the AWS provider in the mirror (not buildable here: docs/deployment.md). Run with
# `tofu init && tofu test` in modules/vpc where the provider can be installed.
mock_provider "aws" {}

variables {
  name         = "bobaku-test"
  region       = "ap-southeast-1"
  cluster_name = "bobaku-test"
  azs          = ["ap-southeast-1a", "ap-southeast-1b", "ap-southeast-1c"]
}

run "a_subnet_of_each_kind_per_zone" {
  command = plan

  assert {
    condition = alltrue([
      for subnets in [aws_subnet.public, aws_subnet.private, aws_subnet.database] :
      length(subnets) == 3 && toset([for s in subnets : s.availability_zone]) == toset(var.azs)
    ])
    error_message = "Public, private and database subnets: one of each in each of the three zones."
  }
  assert {
    condition     = length(distinct(concat([for s in aws_subnet.public : s.cidr_block], [for s in aws_subnet.private : s.cidr_block], [for s in aws_subnet.database : s.cidr_block]))) == 9
    error_message = "No two subnets share a range."
  }
  assert {
    condition     = alltrue([for s in aws_subnet.private : endswith(s.cidr_block, "/19")])
    error_message = "Private subnets are /19 (pods take VPC addresses)."
  }
  assert {
    condition     = alltrue([for s in aws_subnet.public : !s.map_public_ip_on_launch])
    error_message = "Nothing gets a public address by default."
  }
  assert {
    condition     = length(aws_nat_gateway.this) == 3
    error_message = "One NAT gateway per zone."
  }
  assert {
    condition     = length(aws_route_table_association.database) == 3 && length([for r in [aws_route.public_internet] : r if r.route_table_id == aws_route_table.database.id]) == 0
    error_message = "The database subnets' route table has no internet route."
  }
}

run "single_nat_gateway" {
  command = plan

  variables {
    single_nat_gateway = true
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 1 && length(aws_route.private_nat) == 3
    error_message = "One NAT gateway, still a default route in every private table."
  }
}

run "two_zones_are_refused" {
  command = plan

  variables {
    azs = ["ap-southeast-1a", "ap-southeast-1b"]
  }

  expect_failures = [var.azs]
}
