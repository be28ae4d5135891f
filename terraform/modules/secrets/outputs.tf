output "auth_secret_arn" {
  description = "Secret with Harmony's auth keys."
  value       = aws_secretsmanager_secret.auth.arn
}

output "auth_secret_name" {
  description = "Name of the auth secret."
  value       = aws_secretsmanager_secret.auth.name
}

output "kms_key_arn" {
  description = "Key encrypting the auth secret and the published parameters."
  value       = module.kms.key_arn
}

output "parameter_names" {
  description = "Full SSM names of the published parameters."
  value       = sort([for p in aws_ssm_parameter.published : p.name])
}
