output "address" {
  description = "Host name of the instance."
  value       = aws_db_instance.this.address
}

output "port" {
  description = "Port of the instance."
  value       = aws_db_instance.this.port
}

output "db_name" {
  description = "Database name."
  value       = aws_db_instance.this.db_name
}

output "master_username" {
  description = "Master user name (not secret; the password is in the connection secret)."
  value       = aws_db_instance.this.username
}

output "secret_arn" {
  description = "ARN of the connection secret <secrets_prefix>/postgres (url, username, password, host, port, dbname)."
  value       = aws_secretsmanager_secret.this.arn
}

output "secret_name" {
  description = "Name of the connection secret (what external-secrets reads)."
  value       = aws_secretsmanager_secret.this.name
}

output "kms_key_arn" {
  description = "Key encrypting the instance and its connection secret (readers of the secret need kms:Decrypt)."
  value       = module.kms.key_arn
}

output "security_group_id" {
  description = "Security group of the instance."
  value       = aws_security_group.this.id
}

output "identifier" {
  description = "RDS instance identifier."
  value       = aws_db_instance.this.identifier
}
