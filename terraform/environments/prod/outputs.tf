# Non-secret values only. Secrets stay in Secrets Manager; these also reach
# GitOps through the SSM parameters under ssm_prefix.

output "ssm_prefix" {
  description = "SSM path holding the published values for GitOps."
  value       = module.naming.ssm_prefix
}

output "cluster_name" {
  description = "EKS cluster name."
  value       = module.eks.cluster_name
}

output "cluster_endpoint" {
  description = "EKS API endpoint."
  value       = module.eks.cluster_endpoint
}

output "vpc_id" {
  description = "VPC id."
  value       = module.network.vpc_id
}

output "nat_public_ips" {
  description = "Egress addresses (for third-party allow-lists)."
  value       = module.network.nat_public_ips
}

output "chat_history_table" {
  description = "DynamoDB chat history table (HarmonyChat dynamodb.table)."
  value       = module.dynamodb.table_name
}

output "postgres_address" {
  description = "RDS host name."
  value       = module.postgres.address
}

output "postgres_master_secret_arn" {
  description = "ARN of the RDS-managed master secret (the ARN is not secret)."
  value       = module.postgres.master_user_secret_arn
}

output "redis_primary_endpoint" {
  description = "ElastiCache primary endpoint (TLS)."
  value       = module.redis.primary_endpoint
}

output "secret_arns" {
  description = "Secrets Manager secrets external-secrets reads."
  value = {
    auth     = module.secrets.auth_secret_arn
    redis    = module.redis.secret_arn
    postgres = module.postgres.master_user_secret_arn
  }
}

output "kafka_buckets" {
  description = "AutoMQ buckets."
  value = {
    data = module.kafka_storage.data_bucket
    ops  = module.kafka_storage.ops_bucket
  }
}

output "role_arns" {
  description = "Pod Identity roles."
  value = {
    workloads        = module.iam.workload_role_arns
    external_secrets = module.iam.external_secrets_role_arn
    automq           = module.iam.automq_role_arn
    karpenter        = module.eks.karpenter.controller_role
  }
}

output "karpenter" {
  description = "Values for the Karpenter Helm release and EC2NodeClass."
  value       = module.eks.karpenter
}
