# Non-secret values only. Secrets stay in Secrets Manager. GitOps gets what
# it needs from the Argo CD cluster Secret (gitops_cluster_secret), not from
# these outputs; the SSM parameters under ssm_prefix record them for people.
# Passed through from modules/environment.

output "ssm_prefix" {
  description = "SSM path holding the published non-secret values."
  value       = module.environment.ssm_prefix
}

output "cluster_name" {
  description = "EKS cluster name."
  value       = module.environment.cluster_name
}

output "cluster_endpoint" {
  description = "EKS API endpoint."
  value       = module.environment.cluster_endpoint
}

output "vpc_id" {
  description = "VPC id."
  value       = module.environment.vpc_id
}

output "nat_public_ips" {
  description = "Egress addresses (for third-party allow-lists)."
  value       = module.environment.nat_public_ips
}

output "chat_history_table" {
  description = "DynamoDB chat history table (HarmonyChat dynamodb.table)."
  value       = module.environment.chat_history_table
}

output "postgres_address" {
  description = "RDS host name."
  value       = module.environment.postgres_address
}

output "redis_primary_endpoint" {
  description = "ElastiCache primary endpoint (TLS)."
  value       = module.environment.redis_primary_endpoint
}

output "secret_arns" {
  description = "Secrets Manager secrets external-secrets reads (the ARNs are not secret)."
  value       = module.environment.secret_arns
}

output "kafka" {
  description = "MSK cluster, its SASL/SCRAM bootstrap brokers and the name of its credentials secret."
  value       = module.environment.kafka
}

output "gitops_cluster_secret" {
  description = "Argo CD cluster Secret carrying the outputs GitOps reads, and those annotations."
  value       = module.environment.gitops_cluster_secret
}

output "role_arns" {
  description = "Pod Identity roles."
  value       = module.environment.role_arns
}

output "karpenter" {
  description = "Values for the Karpenter Helm release and EC2NodeClass."
  value       = module.environment.karpenter
}

output "public_entry" {
  description = "Public host, its hosted zone and certificate, and the region and VPC the AWS Load Balancer Controller is given."
  value       = module.environment.public_entry
}

output "ebs_csi" {
  description = "EBS CSI driver's role and the key (and alias ARN) a StorageClass may name as kmsKeyId."
  value       = module.environment.ebs_csi
}
