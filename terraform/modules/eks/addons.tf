# EKS-managed add-ons (bootstrap_self_managed_addons is off). The DaemonSet
# add-ons go before the node group so nodes become Ready; CoreDNS, a
# Deployment, after it so it can schedule.

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
