output "cluster_arn" {
  description = "ARN of the MSK cluster."
  value       = aws_msk_cluster.this.arn
}

output "cluster_name" {
  description = "Name of the MSK cluster."
  value       = aws_msk_cluster.this.cluster_name
}

output "bootstrap_brokers_sasl_scram" {
  description = "Comma-separated host:9096 list for SASL/SCRAM over TLS (the HarmonyChat's kafka.bootstrapServers). Not secret."
  value       = aws_msk_cluster.this.bootstrap_brokers_sasl_scram
}

output "scram_secret_arn" {
  description = "ARN of the AmazonMSK_* secret holding the SASL/SCRAM username and password."
  value       = aws_secretsmanager_secret.scram.arn
}

output "scram_secret_name" {
  description = "Name of the SASL/SCRAM secret (what external-secrets reads)."
  value       = aws_secretsmanager_secret.scram.name
}

output "kms_key_arn" {
  description = "Key encrypting the cluster, its SCRAM secret and broker logs (readers of the secret need kms:Decrypt)."
  value       = module.kms.key_arn
}

output "security_group_id" {
  description = "Security group of the brokers."
  value       = aws_security_group.this.id
}
