output "state_bucket" {
  description = "Bucket name for the environments' backend.tf."
  value       = aws_s3_bucket.state.id
}

output "state_kms_key_alias" {
  description = "Key alias for the environments' backend.tf (kms_key_id)."
  value       = aws_kms_alias.state.name
}
