locals {
  name          = var.naming.cluster_name
  partition     = var.naming.partition
  account_id    = var.naming.account_id
  region        = var.naming.region
  log_group     = "/aws/eks/${local.name}/cluster"
  policy_prefix = "arn:${local.partition}:iam::aws:policy"
  cluster_arn   = "arn:${local.partition}:eks:${local.region}:${local.account_id}:cluster/${local.name}"
}

module "kms" {
  source = "../kms-key"

  naming                     = var.naming
  purpose                    = "eks"
  description                = "EKS ${local.name}: Kubernetes secrets envelope encryption and control-plane logs"
  cloudwatch_log_group_names = [local.log_group]
}

# Created before the cluster so EKS does not create it unencrypted and
# without retention.
resource "aws_cloudwatch_log_group" "cluster" {
  name              = local.log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = module.kms.key_arn
}

resource "aws_iam_role" "cluster" {
  name        = "${local.name}-cluster"
  description = "EKS control plane of ${local.name}."

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "eks.amazonaws.com" }
      Action    = ["sts:AssumeRole", "sts:TagSession"]
      Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
    }]
  })
}

resource "aws_iam_role_policy_attachment" "cluster" {
  role       = aws_iam_role.cluster.name
  policy_arn = "${local.policy_prefix}/AmazonEKSClusterPolicy"
}

resource "aws_eks_cluster" "this" {
  name                          = local.name
  version                       = var.kubernetes_version
  role_arn                      = aws_iam_role.cluster.arn
  enabled_cluster_log_types     = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
  deletion_protection           = var.deletion_protection
  bootstrap_self_managed_addons = false # The add-ons below are EKS-managed instead.

  # Access entries only: aws-auth ConfigMap is not read, and whoever runs
  # Terraform gets no implicit admin (admins are listed explicitly).
  access_config {
    authentication_mode                         = "API"
    bootstrap_cluster_creator_admin_permissions = false
  }

  vpc_config {
    subnet_ids              = var.subnet_ids
    endpoint_private_access = true
    endpoint_public_access  = var.endpoint_public_access
    public_access_cidrs     = var.endpoint_public_access ? var.public_access_cidrs : null
  }

  encryption_config {
    resources = ["secrets"]
    provider {
      key_arn = module.kms.key_arn
    }
  }

  # Standard support only: extended support costs six times as much and
  # should be a decision, not a default.
  upgrade_policy {
    support_type = "STANDARD"
  }

  depends_on = [
    aws_cloudwatch_log_group.cluster,
    aws_iam_role_policy_attachment.cluster,
  ]

  lifecycle {
    precondition {
      condition     = !var.endpoint_public_access || length(var.public_access_cidrs) > 0
      error_message = "endpoint_public_access needs a non-empty public_access_cidrs allow-list."
    }
  }
}

# All nodes (managed and Karpenter's) use the cluster security group EKS
# creates; the tag lets Karpenter's EC2NodeClass select it, and the data
# stores admit exactly this group.
resource "aws_ec2_tag" "cluster_sg_karpenter" {
  resource_id = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
  key         = "karpenter.sh/discovery"
  value       = local.name
}

resource "aws_eks_access_entry" "admin" {
  for_each = toset(var.admin_principal_arns)

  cluster_name  = aws_eks_cluster.this.name
  principal_arn = each.value
  type          = "STANDARD"
}

resource "aws_eks_access_policy_association" "admin" {
  for_each = toset(var.admin_principal_arns)

  cluster_name  = aws_eks_cluster.this.name
  principal_arn = aws_eks_access_entry.admin[each.key].principal_arn
  policy_arn    = "arn:${local.partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"

  access_scope {
    type = "cluster"
  }
}
