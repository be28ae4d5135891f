output "project" {
  description = "Project name."
  value       = var.project
}

output "environment" {
  description = "Environment name (dev, staging or prod)."
  value       = var.environment
}

output "is_production" {
  description = "True for prod; modules use it for safe defaults."
  value       = var.environment == "prod"
}

output "region" {
  description = "AWS region."
  value       = var.region
}

output "region_short" {
  description = "Compact region code (eu-west-1 -> euw1)."
  value       = local.region_short
}

output "partition" {
  description = "ARN partition of the region (aws, aws-cn, aws-us-gov, ...)."
  value       = local.partition
}

output "account_id" {
  description = "AWS account id."
  value       = var.account_id
}

output "name_prefix" {
  description = "Prefix of every resource name: <project>-<environment>."
  value       = local.name_prefix
}

output "cluster_name" {
  description = "EKS cluster name (also the Karpenter discovery tag value)."
  value       = local.name_prefix
}

output "ssm_prefix" {
  description = "SSM Parameter Store path that publishes non-secret outputs: /<project>/<environment>."
  value       = "/${var.project}/${var.environment}"
}

output "secrets_prefix" {
  description = "Secrets Manager name prefix: <project>/<environment>."
  value       = "${var.project}/${var.environment}"
}

output "kafka_scram_secret_name" {
  description = "Secrets Manager name of the MSK SASL/SCRAM credentials: AmazonMSK_<project>_<environment> (MSK only accepts secrets named AmazonMSK_*; GitOps reads this exact name)."
  value       = "AmazonMSK_${var.project}_${var.environment}"
}

output "state_bucket_name" {
  description = "Terraform state bucket of the account (shared by its environments; keys separate them)."
  value       = "${var.project}-tfstate-${local.bucket_suffix}"
}

output "tags" {
  description = "Tags for every resource (set as the provider's default_tags)."
  value       = local.tags
}
