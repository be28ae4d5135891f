output "table_name" {
  description = "Name of the chat history table."
  value       = aws_dynamodb_table.chat_history.name
}

output "table_arn" {
  description = "ARN of the chat history table."
  value       = aws_dynamodb_table.chat_history.arn
}

output "index_arns" {
  description = "ARN pattern of the table's indexes (none today; policies cover future ones)."
  value       = ["${aws_dynamodb_table.chat_history.arn}/index/*"]
}

output "kms_key_arn" {
  description = "Key encrypting the table (readers and writers need kms:Decrypt and kms:GenerateDataKey)."
  value       = module.kms.key_arn
}
