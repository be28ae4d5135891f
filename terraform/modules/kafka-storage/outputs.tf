output "data_bucket" {
  description = "Bucket of AutoMQ's stream data (s3.data.buckets)."
  value       = aws_s3_bucket.this["data"].id
}

output "ops_bucket" {
  description = "Bucket of AutoMQ's ops data (s3.ops.buckets)."
  value       = aws_s3_bucket.this["ops"].id
}

output "bucket_arns" {
  description = "ARNs of both buckets."
  value       = { for k, b in aws_s3_bucket.this : k => b.arn }
}

output "kms_key_arn" {
  description = "Key encrypting both buckets."
  value       = module.kms.key_arn
}

output "automq_policy_json" {
  description = "IAM policy AutoMQ's brokers need (attach to their Pod Identity role)."
  value       = local.automq_policy
}
