locals {
  table_name = coalesce(var.table_name, "${var.naming.name_prefix}-chat-history")
}

module "kms" {
  source = "../kms-key"

  naming      = var.naming
  purpose     = "dynamodb"
  description = "DynamoDB ${local.table_name}: chat history at rest"
}

# Chat history, written by the sink, read by the API, purged by cdc when a
# chat is deleted. Keys as in app/ (chat_id / ulid); on-demand because
# traffic follows conversations, not a schedule.
resource "aws_dynamodb_table" "chat_history" {
  name                        = local.table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "chat_id"
  range_key                   = "ulid"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "chat_id"
    type = "S"
  }

  attribute {
    name = "ulid"
    type = "S"
  }

  point_in_time_recovery {
    enabled                 = true
    recovery_period_in_days = var.point_in_time_recovery_days
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = module.kms.key_arn
  }

  tags = { Name = local.table_name }
}
