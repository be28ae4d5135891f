# Staging: the same shape as prod at lower cost and with easy teardown:
# one NAT gateway, single-AZ database and cache, the smallest MSK brokers,
# no deletion protection, shorter backups. Logs are kept a year as in prod
# (audit trail). The wiring is modules/environment; the settings are
# literals here so checkov sees them (it does not read terraform.tfvars).
module "environment" {
  source = "../../modules/environment"

  environment        = "staging"
  region             = var.region
  account_id         = var.account_id
  extra_tags         = var.extra_tags
  availability_zones = var.availability_zones
  vpc_cidr           = var.vpc_cidr

  single_nat_gateway          = true
  deletion_protection         = false
  log_retention_days          = 365
  secret_recovery_window_days = 7 # Short-lived, for easy teardown.

  kubernetes_version         = var.kubernetes_version
  eks_endpoint_public_access = length(var.eks_public_access_cidrs) > 0
  eks_public_access_cidrs    = var.eks_public_access_cidrs
  eks_admin_principal_arns   = var.eks_admin_principal_arns
  system_node_group = {
    instance_types = ["t3.large"]
    min_size       = 2
    desired_size   = 2
    max_size       = 3
  }

  postgres_instance_class        = "db.t4g.medium"
  postgres_multi_az              = false
  postgres_backup_retention_days = 7
  postgres_password_version      = var.postgres_password_version

  redis_node_type               = "cache.t4g.small"
  redis_num_cache_clusters      = 1
  redis_snapshot_retention_days = 1

  dynamodb_point_in_time_recovery_days = 7

  # The smallest broker type: staging carries test traffic only.
  kafka_instance_type           = "kafka.t3.small"
  kafka_ebs_volume_size_gib     = 50
  kafka_max_ebs_volume_size_gib = 200
  kafka_enhanced_monitoring     = "PER_BROKER"
  kafka_scram_password_version  = var.kafka_scram_password_version

  harmony_namespace        = var.harmony_namespace
  harmony_service_accounts = var.harmony_service_accounts

  public_host     = var.public_host
  route53_zone_id = var.route53_zone_id
}
