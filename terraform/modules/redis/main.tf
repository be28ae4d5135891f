locals {
  id          = "${var.naming.name_prefix}-redis"
  slow_log    = "/aws/elasticache/${local.id}/slow-log"
  secret_name = "${var.naming.secrets_prefix}/redis"
  failover    = var.num_cache_clusters > 1
}

module "kms" {
  source = "../kms-key"

  naming                     = var.naming
  purpose                    = "redis"
  description                = "ElastiCache ${local.id}: data at rest, auth secret, slow log"
  cloudwatch_log_group_names = [local.slow_log]
}

# The auth token exists in Terraform state (ElastiCache has no write-only
# argument for it) and in Secrets Manager; it is never an output. The state
# bucket is encrypted and access-restricted for that reason.
resource "random_password" "auth_token" {
  length  = 64
  special = false # ElastiCache refuses several special characters; 64 alphanumerics are ~380 bits.
}

resource "aws_secretsmanager_secret" "this" {
  name                    = local.secret_name
  description             = "Auth token and TLS URL of ${local.id} (read in-cluster by external-secrets)."
  kms_key_id              = module.kms.key_arn
  recovery_window_in_days = var.secret_recovery_window_days
}

resource "aws_secretsmanager_secret_version" "this" {
  secret_id = aws_secretsmanager_secret.this.id

  # Key names match what the HarmonyChat's redis.urlSecretRef and Centrifugo
  # read once external-secrets copies this into a Kubernetes Secret.
  secret_string = jsonencode({
    "auth-token" = random_password.auth_token.result
    host         = aws_elasticache_replication_group.this.primary_endpoint_address
    port         = tostring(aws_elasticache_replication_group.this.port)
    url          = "rediss://:${random_password.auth_token.result}@${aws_elasticache_replication_group.this.primary_endpoint_address}:${aws_elasticache_replication_group.this.port}/0"
  })
}

resource "aws_elasticache_subnet_group" "this" {
  name        = local.id
  description = "Private subnets of ${local.id}."
  subnet_ids  = var.subnet_ids
}

resource "aws_security_group" "this" {
  name        = local.id
  description = "ElastiCache ${local.id}: 6379 from the EKS nodes only."
  vpc_id      = var.vpc_id

  tags = { Name = local.id }
}

resource "aws_vpc_security_group_ingress_rule" "clients" {
  for_each = toset(var.allowed_security_group_ids)

  security_group_id            = aws_security_group.this.id
  description                  = "Redis from ${each.value}"
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
  referenced_security_group_id = each.value
}

resource "aws_cloudwatch_log_group" "slow_log" {
  name              = local.slow_log
  retention_in_days = var.log_retention_days
  kms_key_id        = module.kms.key_arn
}

# Final snapshots outlive the cache: a fixed name would make the next
# teardown of a re-created group fail. The suffix is drawn once per group
# (stable across plans) and redrawn when its id changes.
resource "random_id" "final_snapshot" {
  byte_length = 4
  keepers     = { id = local.id }
}

resource "aws_elasticache_replication_group" "this" {
  replication_group_id = local.id
  description          = "Cache and realtime broker of ${var.naming.name_prefix}."
  engine               = var.engine
  engine_version       = var.engine_version
  node_type            = var.node_type
  num_cache_clusters   = var.num_cache_clusters
  port                 = 6379

  subnet_group_name  = aws_elasticache_subnet_group.this.name
  security_group_ids = [aws_security_group.this.id]

  automatic_failover_enabled = local.failover
  multi_az_enabled           = local.failover

  at_rest_encryption_enabled = "true" # A string since provider v6.
  kms_key_id                 = module.kms.key_arn
  transit_encryption_enabled = true
  transit_encryption_mode    = "required"
  auth_token                 = random_password.auth_token.result
  auth_token_update_strategy = "ROTATE"

  snapshot_retention_limit   = var.snapshot_retention_days
  snapshot_window            = "01:00-02:00"
  maintenance_window         = "sun:03:00-sun:04:00"
  auto_minor_version_upgrade = true
  apply_immediately          = false
  final_snapshot_identifier  = "${local.id}-final-${random_id.final_snapshot.hex}"

  log_delivery_configuration {
    destination      = aws_cloudwatch_log_group.slow_log.name
    destination_type = "cloudwatch-logs"
    log_format       = "json"
    log_type         = "slow-log"
  }

  tags = { Name = local.id }
}
