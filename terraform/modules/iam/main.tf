# Roles for in-cluster workloads, each bound to one service account through
# EKS Pod Identity (see ../pod-identity-role for the trust policy).

locals {
  # Least privilege per component on the chat history table: exactly the
  # actions each Harmony role was recorded calling (readiness included) by
  # app/tests/it/iam.rs, which fails when this file and the code disagree.
  # Redpanda Connect (the sink when connectors.sink is redpandaConnect) is
  # third-party and cannot run here: its aws_dynamodb output writes with
  # BatchWriteItem and PutItem.
  table_actions = merge(
    jsondecode(file("${path.module}/table-actions.json")),
    { redpanda-connect = ["dynamodb:BatchWriteItem", "dynamodb:PutItem"] },
  )

  # The actions that read or write items: only these make DynamoDB use the
  # table's KMS key for the caller. Control-plane calls (DescribeTable and
  # ListTagsOfResource, migrate's only ones) read no item and get no key access.
  item_actions = [
    "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:GetRecords", "dynamodb:PartiQLDelete",
    "dynamodb:PartiQLInsert", "dynamodb:PartiQLSelect", "dynamodb:PartiQLUpdate", "dynamodb:PutItem",
    "dynamodb:Query", "dynamodb:Scan", "dynamodb:TransactGetItems", "dynamodb:TransactWriteItems",
    "dynamodb:UpdateItem",
  ]

  # One role per distinct service account; components sharing one get the
  # union of their actions.
  workload_roles = {
    for sa in distinct(values(var.service_accounts)) : sa => {
      components = sort([for c, s in var.service_accounts : c if s == sa])
      actions    = sort(distinct(flatten([for c, s in var.service_accounts : local.table_actions[c] if s == sa])))
    }
  }
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
      length(setintersection(each.value.actions, local.item_actions)) > 0 ? [
        {
          Sid      = "ChatHistoryKey"
          Effect   = "Allow"
          Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
          Resource = var.table_kms_key_arn
          Condition = {
            StringEquals = { "kms:ViaService" = "dynamodb.${var.naming.region}.amazonaws.com" }
          }
        },
      ] : [],
    )
  })
}

# external-secrets reads exactly the listed secrets (no ListSecrets, no
# parameters): their ARNs are known here, so nothing has to be discovered.
module "external_secrets" {
  source = "../pod-identity-role"

  naming          = var.naming
  name            = "external-secrets"
  description     = "external-secrets: reads the environment's listed secrets only."
  cluster_name    = var.cluster_name
  namespace       = var.external_secrets.namespace
  service_account = var.external_secrets.service_account

  policy_json = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ReadListedSecrets"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
        Resource = var.external_secrets.secret_arns
      },
      {
        Sid      = "DecryptThroughSecretsManager"
        Effect   = "Allow"
        Action   = "kms:Decrypt"
        Resource = var.external_secrets.kms_key_arns
        Condition = {
          StringEquals = { "kms:ViaService" = "secretsmanager.${var.naming.region}.amazonaws.com" }
        }
      },
    ]
  })
}
