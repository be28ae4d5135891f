# Production: a NAT gateway per zone, Multi-AZ database, replicated cache
# with automatic failover, MSK brokers in every zone, deletion protection
# everywhere, long retention. The wiring is modules/environment; the
# settings are literals here so checkov sees them (it does not read
# terraform.tfvars).
module "environment" {
  source = "../../modules/environment"

  environment        = "prod"
  region             = var.region
  account_id         = var.account_id
  extra_tags         = var.extra_tags
  availability_zones = var.availability_zones
  vpc_cidr           = var.vpc_cidr

  single_nat_gateway          = false # One NAT per zone: a zone outage does not cut egress.
  deletion_protection         = true  # Cluster, database and table.
  log_retention_days          = 365
  secret_recovery_window_days = 30

  kubernetes_version         = var.kubernetes_version
  eks_endpoint_public_access = false # Private only: reach the API over the VPN or from inside the VPC.
  eks_admin_principal_arns   = var.eks_admin_principal_arns
  system_node_group = {
    instance_types = ["m7i.large"]
    min_size       = 3 # One per zone.
    desired_size   = 3
    max_size       = 4
  }

  postgres_instance_class                      = "db.r7g.large"
  postgres_multi_az                            = true
  postgres_backup_retention_days               = 30
  postgres_performance_insights_retention_days = 93
  postgres_password_version                    = var.postgres_password_version

  redis_node_type               = "cache.r7g.large"
  redis_num_cache_clusters      = 3 # Primary plus a replica in each other zone.
  redis_snapshot_retention_days = 7

  dynamodb_point_in_time_recovery_days = 35

  # Per-topic metrics, room to grow.
  kafka_instance_type           = "kafka.m7g.large"
  kafka_ebs_volume_size_gib     = 500
  kafka_max_ebs_volume_size_gib = 4000
  kafka_enhanced_monitoring     = "PER_TOPIC_PER_BROKER"
  kafka_scram_password_version  = var.kafka_scram_password_version

  harmony_namespace        = var.harmony_namespace
  harmony_service_accounts = var.harmony_service_accounts

  public_host     = var.public_host
  route53_zone_id = var.route53_zone_id
}
