# Amazon MSK (provisioned) carrying Harmony's topics. Clients reach it only
# over TLS with SASL/SCRAM (port 9096), from the EKS nodes only. Harmony
# creates its topics itself through the admin API, so auto-creation is off.

locals {
  name         = "${var.naming.name_prefix}-kafka"
  broker_logs  = "/aws/msk/${local.name}/broker"
  broker_count = coalesce(var.broker_count, length(var.subnet_ids))
  scram_port   = 9096 # MSK's listener for SASL/SCRAM over TLS.
}

# One key for the brokers' volumes, the SCRAM secret (MSK refuses secrets
# under the AWS-managed key) and the broker logs.
module "kms" {
  source = "../kms-key"

  naming                     = var.naming
  purpose                    = "kafka"
  description                = "MSK ${local.name}: data at rest, SASL/SCRAM secret, broker logs"
  cloudwatch_log_group_names = [local.broker_logs]
}

resource "aws_security_group" "this" {
  name        = local.name
  description = "MSK ${local.name}: SASL/SCRAM over TLS (9096) from the EKS nodes only."
  vpc_id      = var.vpc_id

  tags = { Name = local.name }
}

# No egress rule: the brokers initiate no connections into the VPC, and no
# other listener (plaintext, TLS-only, IAM, ZooKeeper, open monitoring) is
# reachable.
resource "aws_vpc_security_group_ingress_rule" "clients" {
  for_each = toset(var.allowed_security_group_ids)

  security_group_id            = aws_security_group.this.id
  description                  = "Kafka SASL/SCRAM over TLS from ${each.value}"
  ip_protocol                  = "tcp"
  from_port                    = local.scram_port
  to_port                      = local.scram_port
  referenced_security_group_id = each.value
}

resource "aws_cloudwatch_log_group" "broker" {
  name              = local.broker_logs
  retention_in_days = var.log_retention_days
  kms_key_id        = module.kms.key_arn
}

# Replication 3 with 2 in sync: a write survives the loss of a zone and
# producers with acks=all keep writing while one broker is down.
resource "aws_msk_configuration" "this" {
  name        = local.name
  description = "Broker settings of ${local.name}: no topic auto-creation, three replicas, two in sync."

  server_properties = <<-EOT
    auto.create.topics.enable=false
    default.replication.factor=3
    min.insync.replicas=2
    unclean.leader.election.enable=false
  EOT
}

resource "aws_msk_cluster" "this" {
  cluster_name           = local.name
  kafka_version          = var.kafka_version
  number_of_broker_nodes = local.broker_count
  enhanced_monitoring    = var.enhanced_monitoring

  broker_node_group_info {
    instance_type   = var.instance_type
    client_subnets  = var.subnet_ids
    security_groups = [aws_security_group.this.id]

    storage_info {
      ebs_storage_info {
        volume_size = var.ebs_volume_size_gib
      }
    }

    connectivity_info {
      public_access {
        type = "DISABLED"
      }
    }
  }

  configuration_info {
    arn      = aws_msk_configuration.this.arn
    revision = aws_msk_configuration.this.latest_revision
  }

  encryption_info {
    encryption_at_rest_kms_key_arn = module.kms.key_arn

    encryption_in_transit {
      client_broker = "TLS"
      in_cluster    = true
    }
  }

  # SASL/SCRAM only. IAM auth stays off: Harmony's client (rdkafka) would
  # need the MSK IAM signer, and one credential kind is less to audit.
  client_authentication {
    unauthenticated = false

    sasl {
      scram = true
      iam   = false
    }
  }

  # Open monitoring (Prometheus exporters on 11001-11002) stays off: nothing
  # in the cluster scrapes it, and it would need those ports open. Broker
  # metrics come from CloudWatch at the enhanced_monitoring level.
  logging_info {
    broker_logs {
      cloudwatch_logs {
        enabled   = true
        log_group = aws_cloudwatch_log_group.broker.name
      }
    }
  }

  tags = { Name = local.name }

  lifecycle {
    # Storage auto-scaling (below) grows the volumes; EBS never shrinks, so
    # Terraform must not try to set them back.
    ignore_changes = [broker_node_group_info[0].storage_info[0].ebs_storage_info[0].volume_size]
  }
}

# A full disk stops a broker: grow the volumes before that happens.
resource "aws_appautoscaling_target" "storage" {
  service_namespace  = "kafka"
  scalable_dimension = "kafka:broker-storage:VolumeSize"
  resource_id        = aws_msk_cluster.this.arn
  min_capacity       = 1
  max_capacity       = var.max_ebs_volume_size_gib
}

resource "aws_appautoscaling_policy" "storage" {
  name               = "${local.name}-broker-storage"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.storage.service_namespace
  scalable_dimension = aws_appautoscaling_target.storage.scalable_dimension
  resource_id        = aws_appautoscaling_target.storage.resource_id

  target_tracking_scaling_policy_configuration {
    target_value     = var.storage_target_utilization
    disable_scale_in = true # MSK cannot shrink volumes.

    predefined_metric_specification {
      predefined_metric_type = "KafkaBrokerStorageUtilization"
    }
  }
}

# --- SASL/SCRAM credentials ----------------------------------------------------

# Ephemeral: generated during apply, written through a write-only argument,
# never stored in Terraform state or plan files.
ephemeral "random_password" "scram" {
  length  = 64
  special = false # Safe in client configs and URLs; 64 alphanumerics are ~380 bits.
}

# MSK reads only secrets named AmazonMSK_* and encrypted with a customer
# key.
resource "aws_secretsmanager_secret" "scram" {
  name                    = var.naming.kafka_scram_secret_name
  description             = "SASL/SCRAM credentials of ${local.name} (username, password); read in-cluster by external-secrets."
  kms_key_id              = module.kms.key_arn
  recovery_window_in_days = var.secret_recovery_window_days
}

resource "aws_secretsmanager_secret_version" "scram" {
  secret_id                = aws_secretsmanager_secret.scram.id
  secret_string_wo         = jsonencode({ username = var.scram_username, password = ephemeral.random_password.scram.result })
  secret_string_wo_version = var.scram_password_version
}

# The statement MSK itself attaches on association, managed here so that
# Terraform and MSK agree on the secret's policy (no drift, nothing broader).
resource "aws_secretsmanager_secret_policy" "scram" {
  secret_arn          = aws_secretsmanager_secret.scram.arn
  block_public_policy = true

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AWSKafkaResourcePolicy"
      Effect    = "Allow"
      Principal = { Service = "kafka.amazonaws.com" }
      Action    = "secretsmanager:getSecretValue"
      Resource  = aws_secretsmanager_secret.scram.arn
    }]
  })
}

resource "aws_msk_single_scram_secret_association" "this" {
  cluster_arn = aws_msk_cluster.this.arn
  secret_arn  = aws_secretsmanager_secret.scram.arn

  # MSK reads the value when associating: it must exist first.
  depends_on = [aws_secretsmanager_secret_version.scram, aws_secretsmanager_secret_policy.scram]
}
