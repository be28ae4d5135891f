locals {
  account_root = "arn:${var.naming.partition}:iam::${var.naming.account_id}:root"

  # Key policies: "*" as Resource means "this key". Administration stays with
  # the account's IAM policies (the root statement), so no principal is named
  # here and no one is locked out.
  statements = concat(
    [
      {
        Sid       = "AccountAdministersKeyThroughIam"
        Effect    = "Allow"
        Principal = { AWS = local.account_root }
        Action    = "kms:*"
        Resource  = "*"
      },
    ],
    length(var.cloudwatch_log_group_names) == 0 ? [] : [
      {
        Sid       = "CloudWatchLogsEncryptsListedGroups"
        Effect    = "Allow"
        Principal = { Service = "logs.${var.naming.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnEquals = {
            "kms:EncryptionContext:aws:logs:arn" = [
              for name in var.cloudwatch_log_group_names :
              "arn:${var.naming.partition}:logs:${var.naming.region}:${var.naming.account_id}:log-group:${name}"
            ]
          }
        }
      },
    ],
    length(var.service_principals) == 0 ? [] : [
      {
        Sid       = "ServicesUseKeyForThisAccount"
        Effect    = "Allow"
        Principal = { Service = var.service_principals }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = {
          StringEquals = { "aws:SourceAccount" = var.naming.account_id }
        }
      },
    ],
  )
}

resource "aws_kms_key" "this" {
  description             = var.description
  deletion_window_in_days = var.deletion_window_in_days
  enable_key_rotation     = true
  rotation_period_in_days = 365

  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = local.statements
  })

  tags = {
    Name = "${var.naming.name_prefix}-${var.purpose}"
  }
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.naming.name_prefix}-${var.purpose}"
  target_key_id = aws_kms_key.this.key_id
}
