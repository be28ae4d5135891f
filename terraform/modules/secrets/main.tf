locals {
  # Keys of the Kubernetes Secret the HarmonyChat's auth.secretRef names
  # (docs/operator.md), plus Centrifugo's server API key.
  auth_keys = toset(["secret-key", "proxy-secret", "realtime-token-secret", "centrifugo-api-key"])
}

module "kms" {
  source = "../kms-key"

  naming      = var.naming
  purpose     = "secrets"
  description = "Harmony secrets and published parameters of ${var.naming.name_prefix}"
}

# --- Harmony's own secrets ---------------------------------------------------

# Ephemeral: generated during apply, written to Secrets Manager through a
# write-only argument, never stored in Terraform state or plan files.
ephemeral "random_password" "auth" {
  for_each = local.auth_keys

  length  = 64
  special = false # URL- and header-safe; 64 alphanumerics are ~380 bits.
}

resource "aws_secretsmanager_secret" "auth" {
  name                    = "${var.naming.secrets_prefix}/auth"
  description             = "Harmony JWT signing key, Centrifugo proxy secret, connection-token key, Centrifugo API key."
  kms_key_id              = module.kms.key_arn
  recovery_window_in_days = var.secret_recovery_window_days
}

resource "aws_secretsmanager_secret_version" "auth" {
  secret_id                = aws_secretsmanager_secret.auth.id
  secret_string_wo         = jsonencode({ for k in local.auth_keys : k => ephemeral.random_password.auth[k].result })
  secret_string_wo_version = var.auth_secret_version
}

# --- Published non-secret outputs ---------------------------------------------

# SecureString although the values are not secret: encrypted like everything
# else, and external-secrets decrypts them with the same grant it uses for
# the secrets.
resource "aws_ssm_parameter" "published" {
  for_each = var.parameters

  name        = "${var.naming.ssm_prefix}/${each.key}"
  description = "Published by Terraform for GitOps (read by external-secrets)."
  type        = "SecureString"
  key_id      = module.kms.key_arn
  tier        = "Standard"
  value       = each.value
}
