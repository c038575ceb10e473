output "vpc_id" {
  value = aws_vpc.this.id
}

output "cidr" {
  value = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  value = [for az in var.azs : aws_subnet.public[az].id]
}

output "private_subnet_ids" {
  value = [for az in var.azs : aws_subnet.private[az].id]
}

output "database_subnet_ids" {
  value = [for az in var.azs : aws_subnet.database[az].id]
}

output "private_route_table_ids" {
  value = [for az in var.azs : aws_route_table.private[az].id]
}
