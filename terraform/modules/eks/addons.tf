# EKS-managed add-ons (bootstrap_self_managed_addons is off). The DaemonSet
# add-ons go before the node group so nodes become Ready; CoreDNS and the
# EBS CSI driver, whose controllers are Deployments, after it so they can
# schedule.

# The VPC CNI gets its AWS permissions through Pod Identity rather than the
# node role, so no node can assign network interfaces on its own.
module "vpc_cni_role" {
  source = "../pod-identity-role"

  naming              = var.naming
  name                = "vpc-cni"
  description         = "aws-node (VPC CNI) of ${local.name}."
  cluster_name        = local.name
  namespace           = "kube-system"
  service_account     = "aws-node"
  managed_policy_arns = ["${local.policy_prefix}/AmazonEKS_CNI_Policy"]
  create_association  = false # The add-on below owns the association.
}

resource "aws_eks_addon" "pod_identity_agent" {
  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = "eks-pod-identity-agent"
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"
}

resource "aws_eks_addon" "vpc_cni" {
  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = "vpc-cni"
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"

  pod_identity_association {
    role_arn        = module.vpc_cni_role.role_arn
    service_account = "aws-node"
  }

  depends_on = [aws_eks_addon.pod_identity_agent]
}

resource "aws_eks_addon" "kube_proxy" {
  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = "kube-proxy"
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"
}

resource "aws_eks_addon" "coredns" {
  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = "coredns"
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"

  depends_on = [aws_eks_node_group.system]
}

# --- EBS CSI driver: volumes for PersistentVolumeClaims ---------------------------

# Volumes may be encrypted under this key (StorageClass parameter kmsKeyId:
# the key or its alias ARN); volumes without kmsKeyId use the account's
# aws/ebs key, which needs no grant here.
module "ebs_kms" {
  source = "../kms-key"

  naming      = var.naming
  purpose     = "ebs"
  description = "EBS volumes of ${local.name}'s PersistentVolumeClaims (EBS CSI driver)"
}

module "ebs_csi_role" {
  source = "../pod-identity-role"

  naming              = var.naming
  name                = "ebs-csi"
  description         = "EBS CSI controller (kube-system/ebs-csi-controller-sa) of ${local.name}."
  cluster_name        = local.name
  namespace           = "kube-system"
  service_account     = "ebs-csi-controller-sa"
  managed_policy_arns = ["${local.policy_prefix}/service-role/AmazonEBSCSIDriverPolicy"]
  create_association  = false # The add-on below owns the association.

  # What EC2 needs from the caller to create and attach volumes under the
  # key: grants for the volume's own use, data keys, and nothing outside EC2.
  policy_json = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "GrantsForVolumes"
        Effect    = "Allow"
        Action    = ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"]
        Resource  = module.ebs_kms.key_arn
        Condition = { Bool = { "kms:GrantIsForAWSResource" = "true" } }
      },
      {
        Sid       = "EncryptVolumes"
        Effect    = "Allow"
        Action    = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
        Resource  = module.ebs_kms.key_arn
        Condition = { StringEquals = { "kms:ViaService" = "ec2.${local.region}.amazonaws.com" } }
      },
    ]
  })
}

# The controller is a Deployment: after the node group, like CoreDNS (it
# tolerates CriticalAddonsOnly, so it runs on the system nodes; its node
# DaemonSet runs wherever a volume is mounted).
resource "aws_eks_addon" "ebs_csi" {
  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = "aws-ebs-csi-driver"
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"

  pod_identity_association {
    role_arn        = module.ebs_csi_role.role_arn
    service_account = "ebs-csi-controller-sa"
  }

  depends_on = [aws_eks_node_group.system, aws_eks_addon.pod_identity_agent]
}
