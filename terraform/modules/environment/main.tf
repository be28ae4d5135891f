# One Harmony environment: the wiring of every module, written once. The
# roots (environments/<env>) configure the providers and choose the sizes
# and safety settings; nothing here differs between environments.
#
# gitops-bridge is called here too, not in the roots: the roots configure
# the kubernetes provider from this module's cluster_* outputs, which
# Terraform resolves before any kubernetes resource, so keeping the call here
# leaves no wiring (bootstrap servers, table name) to repeat per root.

module "naming" {
  source = "../naming"

  environment = var.environment
  region      = var.region
  account_id  = var.account_id
  extra_tags  = var.extra_tags
}

module "network" {
  source = "../network"

  naming                  = module.naming
  cidr_block              = var.vpc_cidr
  availability_zones      = var.availability_zones
  single_nat_gateway      = var.single_nat_gateway
  flow_log_retention_days = var.log_retention_days
}

module "eks" {
  source = "../eks"

  naming                 = module.naming
  kubernetes_version     = var.kubernetes_version
  subnet_ids             = module.network.private_subnet_ids
  endpoint_public_access = var.eks_endpoint_public_access
  public_access_cidrs    = var.eks_public_access_cidrs
  admin_principal_arns   = var.eks_admin_principal_arns
  deletion_protection    = var.deletion_protection
  log_retention_days     = var.log_retention_days
  system_node_group      = var.system_node_group
}

module "postgres" {
  source = "../postgres"

  naming                     = module.naming
  vpc_id                     = module.network.vpc_id
  subnet_ids                 = module.network.private_subnet_ids
  allowed_security_group_ids = [module.eks.node_security_group_id]
  instance_class             = var.postgres_instance_class
  multi_az                   = var.postgres_multi_az
  deletion_protection        = var.deletion_protection
  backup_retention_days      = var.postgres_backup_retention_days
  log_retention_days         = var.log_retention_days

  performance_insights_retention_days = var.postgres_performance_insights_retention_days
  master_password_version             = var.postgres_password_version
  secret_recovery_window_days         = var.secret_recovery_window_days
}

module "redis" {
  source = "../redis"

  naming                      = module.naming
  vpc_id                      = module.network.vpc_id
  subnet_ids                  = module.network.private_subnet_ids
  allowed_security_group_ids  = [module.eks.node_security_group_id]
  node_type                   = var.redis_node_type
  num_cache_clusters          = var.redis_num_cache_clusters
  snapshot_retention_days     = var.redis_snapshot_retention_days
  secret_recovery_window_days = var.secret_recovery_window_days
  log_retention_days          = var.log_retention_days
}

module "dynamodb" {
  source = "../dynamodb"

  naming                      = module.naming
  table_name                  = var.dynamodb_table_name
  deletion_protection         = var.deletion_protection
  point_in_time_recovery_days = var.dynamodb_point_in_time_recovery_days
}

# Amazon MSK: one broker per zone.
module "kafka_storage" {
  source = "../kafka-storage"

  naming                      = module.naming
  vpc_id                      = module.network.vpc_id
  subnet_ids                  = module.network.private_subnet_ids
  allowed_security_group_ids  = [module.eks.node_security_group_id]
  instance_type               = var.kafka_instance_type
  ebs_volume_size_gib         = var.kafka_ebs_volume_size_gib
  max_ebs_volume_size_gib     = var.kafka_max_ebs_volume_size_gib
  enhanced_monitoring         = var.kafka_enhanced_monitoring
  scram_password_version      = var.kafka_scram_password_version
  secret_recovery_window_days = var.secret_recovery_window_days
  log_retention_days          = var.log_retention_days
}

module "iam" {
  source = "../iam"

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

# The public entry's AWS side: the host's certificate and the roles of the
# AWS Load Balancer Controller and external-dns (helmfile installs both).
# The subnets carry the load balancer tags (modules/network).
module "public_entry" {
  source = "../public-entry"

  naming       = module.naming
  cluster_name = module.eks.cluster_name
  vpc_id       = module.network.vpc_id
  zone_id      = var.route53_zone_id
  public_host  = var.public_host
}

# A record of the non-secret outputs in SSM for people and tools; GitOps
# reads the cluster Secret below instead (terraform/README.md).
module "secrets" {
  source = "../secrets"

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
      "public/host"                   = module.public_entry.host
      "public/certificate-arn"        = module.public_entry.certificate_arn
    },
    { for c, arn in module.iam.workload_role_arns : "iam/${c}-role-arn" => arn },
    { for c, sa in module.iam.workload_service_accounts : "harmony/${c}-service-account" => sa },
  )
}

# Argo CD's cluster Secret harmony-<env>: the ApplicationSet selects it by
# label and patches its annotations into the HarmonyChat (Kafka bootstrap
# servers, table, region), the SecretStore and ExternalSecrets (region,
# secrets prefix, MSK secret name) and the Ingress (host, certificate).
module "gitops_bridge" {
  source = "../gitops-bridge"

  naming                  = module.naming
  kafka_bootstrap_servers = module.kafka_storage.bootstrap_brokers_sasl_scram
  dynamodb_table          = module.dynamodb.table_name
  kafka_secret_name       = module.kafka_storage.scram_secret_name
  public_host             = module.public_entry.host
  certificate_arn         = module.public_entry.certificate_arn

  # The caller's cluster-admin access entry must exist before the API is used.
  depends_on = [module.eks]
}
