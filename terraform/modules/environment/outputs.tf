# What the roots publish, plus what they need to configure their providers
# (tags, cluster_*). Non-secret values only: secrets stay in Secrets Manager.

output "tags" {
  description = "Tags of every resource, for the aws provider's default_tags."
  value       = module.naming.tags
}

output "cluster_certificate_authority_data" {
  description = "EKS cluster CA (base64), for the kubernetes provider."
  value       = module.eks.cluster_certificate_authority_data
}

output "ssm_prefix" {
  description = "SSM path holding the published non-secret values."
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

output "redis_primary_endpoint" {
  description = "ElastiCache primary endpoint (TLS)."
  value       = module.redis.primary_endpoint
}

output "secret_arns" {
  description = "Secrets Manager secrets external-secrets reads (the ARNs are not secret)."
  value = {
    postgres = module.postgres.secret_arn
    redis    = module.redis.secret_arn
    kafka    = module.kafka_storage.scram_secret_arn
  }
}

output "kafka" {
  description = "MSK cluster, its SASL/SCRAM bootstrap brokers and the name of its credentials secret."
  value = {
    cluster_arn                  = module.kafka_storage.cluster_arn
    bootstrap_brokers_sasl_scram = module.kafka_storage.bootstrap_brokers_sasl_scram
    scram_secret_name            = module.kafka_storage.scram_secret_name
  }
}

output "gitops_cluster_secret" {
  description = "Argo CD cluster Secret carrying the outputs GitOps reads, and those annotations."
  value = {
    namespace   = module.gitops_bridge.namespace
    name        = module.gitops_bridge.secret_name
    annotations = module.gitops_bridge.annotations
  }
}

output "role_arns" {
  description = "Pod Identity roles."
  value = {
    workloads                = module.iam.workload_role_arns
    external_secrets         = module.iam.external_secrets_role_arn
    karpenter                = module.eks.karpenter.controller_role
    load_balancer_controller = module.public_entry.load_balancer_controller_role_arn
    external_dns             = module.public_entry.external_dns_role_arn
    ebs_csi                  = module.eks.ebs_csi.role_arn
  }
}

output "karpenter" {
  description = "Values for the Karpenter Helm release and EC2NodeClass."
  value       = module.eks.karpenter
}

output "public_entry" {
  description = "The public entry: host, its hosted zone (external-dns' domain filter) and issued certificate, and what the AWS Load Balancer Controller is given instead of reading instance metadata (region, VPC)."
  value = {
    host            = module.public_entry.host
    zone_id         = module.public_entry.zone_id
    zone_name       = module.public_entry.zone_name
    certificate_arn = module.public_entry.certificate_arn
    region          = module.naming.region
    vpc_id          = module.network.vpc_id
  }
}

output "ebs_csi" {
  description = "EBS CSI driver's role and the key (and alias ARN) a StorageClass may name as kmsKeyId."
  value       = module.eks.ebs_csi
}
