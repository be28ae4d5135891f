output "vpc_id" {
  description = "Id of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr_block" {
  description = "IPv4 CIDR of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "availability_zones" {
  description = "Zones the subnets are in, in subnet order."
  value       = local.azs
}

output "public_subnet_ids" {
  description = "Public subnets (NAT gateways, internet-facing load balancers)."
  value       = aws_subnet.public[*].id
}

output "private_subnet_ids" {
  description = "Private subnets (nodes, pods, databases, internal load balancers)."
  value       = aws_subnet.private[*].id
}

output "private_route_table_ids" {
  description = "Route tables of the private subnets."
  value       = aws_route_table.private[*].id
}

output "nat_public_ips" {
  description = "Egress addresses of the NAT gateways (for allow-lists elsewhere)."
  value       = aws_eip.nat[*].public_ip
}
