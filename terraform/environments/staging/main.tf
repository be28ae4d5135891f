# Staging: the same shape as prod at lower cost and with easy teardown:
# one NAT gateway, single-AZ database and cache, no deletion protection,
# shorter backups. Logs are kept a year as in prod (audit trail).

module "naming" {
  source = "../../modules/naming"

  environment = "staging"
  region      = var.region
  account_id  = var.account_id
  extra_tags  = var.extra_tags
}

provider "aws" {
  region              = var.region
  allowed_account_ids = [var.account_id]

  default_tags {
    tags = module.naming.tags
  }
}

module "network" {
  source = "../../modules/network"

  naming                  = module.naming
  cidr_block              = var.vpc_cidr
  availability_zones      = var.availability_zones
  single_nat_gateway      = true
  flow_log_retention_days = 365
}

module "eks" {
  source = "../../modules/eks"

  naming                 = module.naming
  kubernetes_version     = var.kubernetes_version
  subnet_ids             = module.network.private_subnet_ids
  endpoint_public_access = length(var.eks_public_access_cidrs) > 0
  public_access_cidrs    = var.eks_public_access_cidrs
  admin_principal_arns   = var.eks_admin_principal_arns
  deletion_protection    = false
  log_retention_days     = 365

  system_node_group = {
    instance_types = ["t3.large"]
    min_size       = 2
    desired_size   = 2
    max_size       = 3
  }
}

module "postgres" {
  source = "../../modules/postgres"

  naming                     = module.naming
  vpc_id                     = module.network.vpc_id
  subnet_ids                 = module.network.private_subnet_ids
  allowed_security_group_ids = [module.eks.node_security_group_id]
  instance_class             = var.postgres_instance_class
  multi_az                   = false
  deletion_protection        = false
  backup_retention_days      = 7
  log_retention_days         = 365
}

module "redis" {
  source = "../../modules/redis"

  naming                      = module.naming
  vpc_id                      = module.network.vpc_id
  subnet_ids                  = module.network.private_subnet_ids
  allowed_security_group_ids  = [module.eks.node_security_group_id]
  node_type                   = var.redis_node_type
  num_cache_clusters          = 1
  snapshot_retention_days     = 1
  secret_recovery_window_days = 7
  log_retention_days          = 365
}

module "dynamodb" {
  source = "../../modules/dynamodb"

  naming                      = module.naming
  deletion_protection         = false
  point_in_time_recovery_days = 7
}

module "kafka_storage" {
  source = "../../modules/kafka-storage"

  naming             = module.naming
  ops_retention_days = 14
}

module "iam" {
  source = "../../modules/iam"

  naming            = module.naming
  cluster_name      = module.eks.cluster_name
  namespace         = var.harmony_namespace
  service_accounts  = var.harmony_service_accounts
  table_arn         = module.dynamodb.table_arn
  table_kms_key_arn = module.dynamodb.kms_key_arn

  external_secrets = {
    secret_arns  = [module.secrets.auth_secret_arn, module.redis.secret_arn, module.postgres.master_user_secret_arn]
    kms_key_arns = [module.secrets.kms_key_arn, module.redis.kms_key_arn, module.postgres.kms_key_arn]
  }

  automq = {
    namespace       = "automq"
    service_account = "automq"
    policy_json     = module.kafka_storage.automq_policy_json
  }
}

module "secrets" {
  source = "../../modules/secrets"

  naming                      = module.naming
  auth_secret_version         = var.auth_secret_version
  secret_recovery_window_days = 7

  # Everything GitOps needs that is not a secret; external-secrets turns
  # these into Kubernetes Secrets/ConfigMaps (terraform/README.md).
  parameters = merge(
    {
      "region"                        = module.naming.region
      "eks/cluster-name"              = module.eks.cluster_name
      "karpenter/interruption-queue"  = module.eks.karpenter.interruption_queue
      "karpenter/node-role"           = module.eks.karpenter.node_role_name
      "dynamodb/table-name"           = module.dynamodb.table_name
      "postgres/host"                 = module.postgres.address
      "postgres/port"                 = tostring(module.postgres.port)
      "postgres/database"             = module.postgres.db_name
      "postgres/username"             = module.postgres.master_username
      "redis/host"                    = module.redis.primary_endpoint
      "redis/port"                    = tostring(module.redis.port)
      "kafka/data-bucket"             = module.kafka_storage.data_bucket
      "kafka/ops-bucket"              = module.kafka_storage.ops_bucket
      "iam/automq-role-arn"           = module.iam.automq_role_arn
      "iam/external-secrets-role-arn" = module.iam.external_secrets_role_arn
    },
    { for c, arn in module.iam.workload_role_arns : "iam/${c}-role-arn" => arn },
    { for c, sa in module.iam.workload_service_accounts : "harmony/${c}-service-account" => sa },
  )
}
