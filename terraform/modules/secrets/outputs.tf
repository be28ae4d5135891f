output "kms_key_arn" {
  description = "Key encrypting the published parameters."
  value       = module.kms.key_arn
}

output "parameter_names" {
  description = "Full SSM names of the published parameters."
  value       = sort([for p in aws_ssm_parameter.published : p.name])
}
