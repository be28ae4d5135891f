# Roles for in-cluster workloads, each bound to one service account through
# EKS Pod Identity (see ../pod-identity-role for the trust policy).

locals {
  # Least privilege per component on the chat history table.
  table_actions = {
    api              = ["dynamodb:GetItem", "dynamodb:Query"]                               # history pages
    sink             = ["dynamodb:BatchWriteItem", "dynamodb:PutItem"]                      # persist messages
    cdc              = ["dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:Query"] # purge deleted chats
    migrate          = ["dynamodb:DescribeTable"]                                           # `harmony migrate` checks the table exists
    redpanda-connect = ["dynamodb:BatchWriteItem", "dynamodb:PutItem"]                      # the sink when connectors.sink is redpandaConnect
  }

  # One role per distinct service account; components sharing one get the
  # union of their actions.
  workload_roles = {
    for sa in distinct(values(var.service_accounts)) : sa => {
      components = sort([for c, s in var.service_accounts : c if s == sa])
      actions    = sort(distinct(flatten([for c, s in var.service_accounts : local.table_actions[c] if s == sa])))
    }
  }

  ssm_arn = "arn:${var.naming.partition}:ssm:${var.naming.region}:${var.naming.account_id}:parameter${var.naming.ssm_prefix}"
}

module "workload" {
  source   = "../pod-identity-role"
  for_each = local.workload_roles

  naming          = var.naming
  name            = join("-", each.value.components)
  description     = "Harmony ${join(", ", each.value.components)} (service account ${var.namespace}/${each.key}): chat history table."
  cluster_name    = var.cluster_name
  namespace       = var.namespace
  service_account = each.key

  policy_json = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid      = "ChatHistoryTable"
          Effect   = "Allow"
          Action   = each.value.actions
          Resource = var.table_arn
        },
      ],
      # Query is the only one of these actions that applies to indexes.
      contains(each.value.actions, "dynamodb:Query") ? [
        {
          Sid      = "ChatHistoryIndexes"
          Effect   = "Allow"
          Action   = "dynamodb:Query"
          Resource = "${var.table_arn}/index/*"
        },
      ] : [],
      [
        {
          Sid      = "ChatHistoryKey"
          Effect   = "Allow"
          Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
          Resource = var.table_kms_key_arn
          Condition = {
            StringEquals = { "kms:ViaService" = "dynamodb.${var.naming.region}.amazonaws.com" }
          }
        },
      ],
    )
  })
}

module "external_secrets" {
  source = "../pod-identity-role"

  naming          = var.naming
  name            = "external-secrets"
  description     = "external-secrets: reads ${var.naming.ssm_prefix}/* parameters and the environment's secrets."
  cluster_name    = var.cluster_name
  namespace       = var.external_secrets.namespace
  service_account = var.external_secrets.service_account

  policy_json = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ReadEnvironmentParameters"
        Effect   = "Allow"
        Action   = ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"]
        Resource = [local.ssm_arn, "${local.ssm_arn}/*"]
      },
      {
        Sid      = "ReadListedSecrets"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
        Resource = var.external_secrets.secret_arns
      },
      {
        # Only to find the RDS-managed master secret by tag (its name is
        # random); values stay limited to the ARNs above.
        Sid      = "FindSecretsByTag"
        Effect   = "Allow"
        Action   = "secretsmanager:ListSecrets"
        Resource = "*"
      },
      {
        Sid      = "DecryptThroughSecretsServices"
        Effect   = "Allow"
        Action   = "kms:Decrypt"
        Resource = var.external_secrets.kms_key_arns
        Condition = {
          StringEquals = {
            "kms:ViaService" = [
              "secretsmanager.${var.naming.region}.amazonaws.com",
              "ssm.${var.naming.region}.amazonaws.com",
            ]
          }
        }
      },
    ]
  })
}

module "automq" {
  source = "../pod-identity-role"
  count  = var.automq == null ? 0 : 1

  naming          = var.naming
  name            = "automq"
  description     = "AutoMQ brokers: their S3 buckets."
  cluster_name    = var.cluster_name
  namespace       = var.automq.namespace
  service_account = var.automq.service_account
  policy_json     = var.automq.policy_json
}
