locals {
  identifier  = "${var.naming.name_prefix}-postgres"
  log_exports = ["postgresql", "upgrade"]
  log_groups  = [for t in local.log_exports : "/aws/rds/instance/${local.identifier}/${t}"]
  secret_name = "${var.naming.secrets_prefix}/postgres"
}

module "kms" {
  source = "../kms-key"

  naming                     = var.naming
  purpose                    = "postgres"
  description                = "RDS ${local.identifier}: storage, Performance Insights, connection secret, logs"
  cloudwatch_log_group_names = local.log_groups
}

# --- Master password -------------------------------------------------------------

# Ephemeral: generated during apply and handed to RDS and Secrets Manager
# through write-only arguments in the same run, so both get the same value
# and neither Terraform state nor plan files ever hold it.
ephemeral "random_password" "master" {
  length  = 48
  special = false # No URL or shell quoting surprises; 48 alphanumerics are ~285 bits.
}

resource "aws_secretsmanager_secret" "this" {
  name                    = local.secret_name
  description             = "Connection of ${local.identifier} (url, username, password, host, port, dbname); read in-cluster by external-secrets."
  kms_key_id              = module.kms.key_arn
  recovery_window_in_days = var.secret_recovery_window_days
}

# Written only when master_password_version changes, like the instance's
# password_wo, so the two never disagree. The host is stable (fixed
# identifier); should it ever change, bump the version to rewrite both.
resource "aws_secretsmanager_secret_version" "this" {
  secret_id = aws_secretsmanager_secret.this.id

  # Key names match what external-secrets copies into the Kubernetes Secret
  # the HarmonyChat's postgres.urlSecretRef names (property url).
  secret_string_wo = jsonencode({
    url      = "postgres://${aws_db_instance.this.username}:${urlencode(ephemeral.random_password.master.result)}@${aws_db_instance.this.address}:${aws_db_instance.this.port}/${aws_db_instance.this.db_name}?sslmode=require"
    username = aws_db_instance.this.username
    password = ephemeral.random_password.master.result
    host     = aws_db_instance.this.address
    port     = tostring(aws_db_instance.this.port)
    dbname   = aws_db_instance.this.db_name
  })
  secret_string_wo_version = var.master_password_version
}

# --- Instance ----------------------------------------------------------------------

resource "aws_db_subnet_group" "this" {
  name        = local.identifier
  description = "Private subnets of ${local.identifier}."
  subnet_ids  = var.subnet_ids
}

resource "aws_security_group" "this" {
  name        = local.identifier
  description = "PostgreSQL ${local.identifier}: 5432 from the EKS nodes only."
  vpc_id      = var.vpc_id

  tags = { Name = local.identifier }
}

# No egress rule: the database initiates no connections.
resource "aws_vpc_security_group_ingress_rule" "clients" {
  for_each = toset(var.allowed_security_group_ids)

  security_group_id            = aws_security_group.this.id
  description                  = "PostgreSQL from ${each.value}"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = each.value
}

resource "aws_db_parameter_group" "this" {
  name_prefix = "${local.identifier}-pg16-"
  description = "PostgreSQL 16 for ${local.identifier}: logical replication for CDC, TLS only."
  family      = "postgres16"

  # The platform's CDC reads the write-ahead log through logical
  # replication. Static: takes effect at the next reboot.
  parameter {
    name         = "rds.logical_replication"
    value        = "1"
    apply_method = "pending-reboot"
  }

  # A stalled or abandoned slot must not fill the disk.
  parameter {
    name  = "max_slot_wal_keep_size"
    value = tostring(var.max_slot_wal_keep_size_mb)
  }

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  # Slow statements and schema changes in the exported log.
  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }

  parameter {
    name  = "log_statement"
    value = "ddl"
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_cloudwatch_log_group" "this" {
  for_each = toset(local.log_groups)

  name              = each.value
  retention_in_days = var.log_retention_days
  kms_key_id        = module.kms.key_arn
}

resource "aws_iam_role" "monitoring" {
  name        = "${local.identifier}-monitoring"
  description = "Enhanced monitoring of ${local.identifier}."

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "monitoring.rds.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = var.naming.account_id } }
    }]
  })
}

resource "aws_iam_role_policy_attachment" "monitoring" {
  role       = aws_iam_role.monitoring.name
  policy_arn = "arn:${var.naming.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

# A final snapshot keeps its name after the instance is gone, so a fixed
# name would make the next teardown of a re-created instance fail. The
# suffix is drawn once per instance (stable across plans) and redrawn when
# the identifier changes, as terraform-aws-modules/rds does.
resource "random_id" "final_snapshot" {
  byte_length = 4
  keepers     = { identifier = local.identifier }
}

resource "aws_db_instance" "this" {
  identifier     = local.identifier
  engine         = "postgres"
  engine_version = var.engine_version
  instance_class = var.instance_class
  db_name        = var.db_name
  username       = var.master_username

  # Write-only: sent to RDS when the version changes, never stored.
  password_wo         = ephemeral.random_password.master.result
  password_wo_version = var.master_password_version

  storage_type          = "gp3"
  allocated_storage     = var.allocated_storage_gib
  max_allocated_storage = var.max_allocated_storage_gib
  storage_encrypted     = true
  kms_key_id            = module.kms.key_arn

  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.this.id]
  publicly_accessible    = false
  multi_az               = var.multi_az
  parameter_group_name   = aws_db_parameter_group.this.name
  ca_cert_identifier     = "rds-ca-rsa2048-g1"

  iam_database_authentication_enabled = true

  backup_retention_period   = var.backup_retention_days
  backup_window             = "02:00-03:00"
  maintenance_window        = "sun:03:30-sun:04:30"
  copy_tags_to_snapshot     = true
  delete_automated_backups  = false
  deletion_protection       = var.deletion_protection
  skip_final_snapshot       = false
  final_snapshot_identifier = "${local.identifier}-final-${random_id.final_snapshot.hex}"

  auto_minor_version_upgrade  = true
  allow_major_version_upgrade = false
  # Extended support is billed per vCPU-hour; reaching end of standard
  # support should force an upgrade decision instead.
  engine_lifecycle_support = "open-source-rds-extended-support-disabled"

  performance_insights_enabled          = true
  performance_insights_kms_key_id       = module.kms.key_arn
  performance_insights_retention_period = var.performance_insights_retention_days
  monitoring_interval                   = 60
  monitoring_role_arn                   = aws_iam_role.monitoring.arn
  enabled_cloudwatch_logs_exports       = local.log_exports

  tags = { Name = local.identifier }

  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy_attachment.monitoring]
}
