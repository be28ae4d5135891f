# Non-secret outputs of the environment, published under /<project>/<env>
# for people and tools outside the cluster (runbooks, CI, the AWS console).
# GitOps does not read them: Argo CD gets what it needs from the cluster
# Secret's annotations (../gitops-bridge), and external-secrets reads only
# the Secrets Manager secrets of postgres, redis and kafka-storage.

module "kms" {
  source = "../kms-key"

  naming      = var.naming
  purpose     = "parameters"
  description = "Published parameters of ${var.naming.name_prefix}"
}

# SecureString although the values are not secret: encrypted like everything
# else, and reading them takes kms:Decrypt on this environment's key.
resource "aws_ssm_parameter" "published" {
  for_each = var.parameters

  name        = "${var.naming.ssm_prefix}/${each.key}"
  description = "Published by Terraform (${var.naming.name_prefix}); a record for people and tools, not read by GitOps."
  type        = "SecureString"
  key_id      = module.kms.key_arn
  tier        = "Standard"
  value       = each.value
}
