output "workload_role_arns" {
  description = "Role ARN per Harmony component."
  value       = { for c, sa in var.service_accounts : c => module.workload[sa].role_arn }
}

output "workload_service_accounts" {
  description = "Service account per Harmony component; set the HarmonyChat's dynamodb.serviceAccountName accordingly."
  value       = var.service_accounts
}

output "external_secrets_role_arn" {
  description = "Role of the external-secrets controller."
  value       = module.external_secrets.role_arn
}
