output "primary_endpoint" {
  description = "Host name of the primary (writes)."
  value       = aws_elasticache_replication_group.this.primary_endpoint_address
}

output "reader_endpoint" {
  description = "Host name spreading reads over the replicas."
  value       = aws_elasticache_replication_group.this.reader_endpoint_address
}

output "port" {
  description = "Port (TLS)."
  value       = aws_elasticache_replication_group.this.port
}

output "secret_arn" {
  description = "Secrets Manager secret with the auth token and URL."
  value       = aws_secretsmanager_secret.this.arn
}

output "kms_key_arn" {
  description = "Key encrypting the cache and its secret (readers of the secret need kms:Decrypt)."
  value       = module.kms.key_arn
}

output "security_group_id" {
  description = "Security group of the cache."
  value       = aws_security_group.this.id
}
