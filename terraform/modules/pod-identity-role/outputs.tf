output "role_arn" {
  description = "ARN of the role."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the role."
  value       = aws_iam_role.this.name
}

output "service_account" {
  description = "Namespace and service account the role is for."
  value       = { namespace = var.namespace, name = var.service_account }
}
