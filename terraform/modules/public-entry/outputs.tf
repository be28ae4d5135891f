output "host" {
  description = "Public host name of the environment."
  value       = var.public_host
}

output "zone_name" {
  description = "Name of the Route53 public hosted zone the host is in (external-dns' domain filter)."
  value       = local.zone_name
}

output "zone_id" {
  description = "Id of that hosted zone."
  value       = var.zone_id
}

output "certificate_arn" {
  description = "ARN of the issued ACM certificate for the host (known once validation succeeded)."
  value       = aws_acm_certificate_validation.this.certificate_arn
}

output "load_balancer_controller_role_arn" {
  description = "Role of the AWS Load Balancer Controller (Pod Identity)."
  value       = module.load_balancer_controller_role.role_arn
}

output "external_dns_role_arn" {
  description = "Role of external-dns (Pod Identity)."
  value       = module.external_dns_role.role_arn
}
