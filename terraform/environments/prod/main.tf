# Production: a NAT gateway per zone, Multi-AZ database, replicated cache
# with automatic failover, MSK brokers in every zone, deletion protection
# everywhere, long retention.

module "naming" {
  source = "../../modules/naming"

  environment = "prod"
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

# The environment's own cluster, for Argo CD's cluster Secret
# (modules/gitops-bridge). The token comes from the caller's AWS
# credentials at each run (`aws eks get-token`) and is never stored; the
# caller must be one of eks_admin_principal_arns (access entries).
provider "kubernetes" {
  host                   = module.eks.cluster_endpoint
  cluster_ca_certificate = base64decode(module.eks.cluster_certificate_authority_data)

  exec {
    api_version = "client.authentication.k8s.io/v1beta1"
    command     = "aws"
    args        = ["eks", "get-token", "--cluster-name", module.eks.cluster_name, "--region", var.region, "--output", "json"]
  }
}

module "network" {
  source = "../../modules/network"

  naming                  = module.naming
  cidr_block              = var.vpc_cidr
  availability_zones      = var.availability_zones
  single_nat_gateway      = false # One NAT per zone: a zone outage does not cut egress.
  flow_log_retention_days = 365
}

module "eks" {
  source = "../../modules/eks"

  naming                 = module.naming
  kubernetes_version     = var.kubernetes_version
  subnet_ids             = module.network.private_subnet_ids
  endpoint_public_access = false # Private only: reach the API over the VPN or from inside the VPC.
  admin_principal_arns   = var.eks_admin_principal_arns
  deletion_protection    = true
  log_retention_days     = 365

  system_node_group = {
    instance_types = ["m7i.large"]
    min_size       = 3 # One per zone.
    desired_size   = 3
    max_size       = 4
  }
}

module "postgres" {
  source = "../../modules/postgres"

  naming                     = module.naming
  vpc_id                     = module.network.vpc_id
  subnet_ids                 = module.network.private_subnet_ids
  allowed_security_group_ids = [module.eks.node_security_group_id]
  instance_class             = var.postgres_instance_class
  multi_az                   = true
  deletion_protection        = true
  backup_retention_days      = 30
  log_retention_days         = 365

  performance_insights_retention_days = 93
  master_password_version             = var.postgres_password_version
  secret_recovery_window_days         = 30
}

module "redis" {
  source = "../../modules/redis"

  naming                      = module.naming
  vpc_id                      = module.network.vpc_id
  subnet_ids                  = module.network.private_subnet_ids
  allowed_security_group_ids  = [module.eks.node_security_group_id]
  node_type                   = var.redis_node_type
  num_cache_clusters          = 3 # Primary plus a replica in each other zone.
  snapshot_retention_days     = 7
  secret_recovery_window_days = 30
  log_retention_days          = 365
}

module "dynamodb" {
  source = "../../modules/dynamodb"

  naming                      = module.naming
  deletion_protection         = true
  point_in_time_recovery_days = 35
}

# Amazon MSK: one broker per zone (three), per-topic metrics, room to grow.
module "kafka_storage" {
  source = "../../modules/kafka-storage"

  naming                      = module.naming
  vpc_id                      = module.network.vpc_id
  subnet_ids                  = module.network.private_subnet_ids
  allowed_security_group_ids  = [module.eks.node_security_group_id]
  instance_type               = var.kafka_instance_type
  ebs_volume_size_gib         = 500
  max_ebs_volume_size_gib     = 4000
  enhanced_monitoring         = "PER_TOPIC_PER_BROKER"
  scram_password_version      = var.kafka_scram_password_version
  secret_recovery_window_days = 30
  log_retention_days          = 365
}

module "iam" {
  source = "../../modules/iam"

  naming            = module.naming
  cluster_name      = module.eks.cluster_name
  namespace         = var.harmony_namespace
  service_accounts  = var.harmony_service_accounts
  table_arn         = module.dynamodb.table_arn
  table_kms_key_arn = module.dynamodb.kms_key_arn

  # Exactly the secrets the platform chart's ExternalSecrets read
  # (harmony-postgres, harmony-redis, kafka-credentials), and their keys.
  external_secrets = {
    secret_arns  = [module.postgres.secret_arn, module.redis.secret_arn, module.kafka_storage.scram_secret_arn]
    kms_key_arns = [module.postgres.kms_key_arn, module.redis.kms_key_arn, module.kafka_storage.kms_key_arn]
  }
}

# A record of the non-secret outputs in SSM for people and tools; GitOps
# reads the cluster Secret below instead (terraform/README.md).
module "secrets" {
  source = "../../modules/secrets"

  naming = module.naming

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
      "postgres/secret-name"          = module.postgres.secret_name
      "redis/host"                    = module.redis.primary_endpoint
      "redis/port"                    = tostring(module.redis.port)
      "kafka/cluster-arn"             = module.kafka_storage.cluster_arn
      "kafka/bootstrap-servers"       = module.kafka_storage.bootstrap_brokers_sasl_scram
      "kafka/secret-name"             = module.kafka_storage.scram_secret_name
      "iam/external-secrets-role-arn" = module.iam.external_secrets_role_arn
    },
    { for c, arn in module.iam.workload_role_arns : "iam/${c}-role-arn" => arn },
    { for c, sa in module.iam.workload_service_accounts : "harmony/${c}-service-account" => sa },
  )
}

# Argo CD's cluster Secret harmony-<env>: the ApplicationSet selects it by
# label and patches its annotations (Kafka bootstrap servers, table, region)
# into the HarmonyChat.
module "gitops_bridge" {
  source = "../../modules/gitops-bridge"

  naming                  = module.naming
  kafka_bootstrap_servers = module.kafka_storage.bootstrap_brokers_sasl_scram
  dynamodb_table          = module.dynamodb.table_name

  # The caller's cluster-admin access entry must exist before the API is used.
  depends_on = [module.eks]
}
