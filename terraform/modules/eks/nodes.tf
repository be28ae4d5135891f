# The system node group: a few on-demand nodes tainted
# CriticalAddonsOnly=true:NoSchedule. What runs here is what tolerates that
# taint: the Karpenter controller (its chart tolerates it; Karpenter cannot
# run on nodes it manages), CoreDNS and the EBS CSI controller (their EKS
# add-ons tolerate it), and the DaemonSets (aws-node, kube-proxy, the Pod
# Identity agent, the EBS CSI node plugin; they tolerate every taint).
# Everything else waits for the nodes Karpenter launches from the NodePools
# helmfile installs (helmfile/charts/karpenter-nodes), which select the
# private subnets and the cluster security group by their tag
# karpenter.sh/discovery = <cluster name> (network module, main.tf).

resource "aws_iam_role" "node" {
  name        = "${local.name}-system-node"
  description = "Nodes of the system managed node group of ${local.name}."

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

# No CNI policy here: aws-node has its own role (addons.tf). SSM lets
# operators reach nodes without SSH keys or open ports.
resource "aws_iam_role_policy_attachment" "node" {
  for_each = toset([
    "AmazonEKSWorkerNodePolicy",
    "AmazonEC2ContainerRegistryPullOnly",
    "AmazonSSMManagedInstanceCore",
  ])

  role       = aws_iam_role.node.name
  policy_arn = "${local.policy_prefix}/${each.value}"
}

resource "aws_launch_template" "system" {
  name_prefix            = "${local.name}-system-"
  description            = "System nodes of ${local.name}: IMDSv2 only, encrypted root volume."
  update_default_version = true

  # IMDSv2 with a hop limit of 1: pods cannot reach the node's credentials
  # through the metadata service; they use Pod Identity.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  block_device_mappings {
    device_name = "/dev/xvda"

    ebs {
      volume_size           = var.system_node_group.disk_size_gib
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = { Name = "${local.name}-system" }
  }

  tag_specifications {
    resource_type = "volume"
    tags          = { Name = "${local.name}-system" }
  }
}

resource "aws_eks_node_group" "system" {
  cluster_name    = aws_eks_cluster.this.name
  node_group_name = "system"
  node_role_arn   = aws_iam_role.node.arn
  subnet_ids      = var.subnet_ids
  version         = var.kubernetes_version
  ami_type        = var.system_node_group.ami_type
  capacity_type   = "ON_DEMAND"
  instance_types  = var.system_node_group.instance_types

  launch_template {
    id      = aws_launch_template.system.id
    version = aws_launch_template.system.latest_version
  }

  scaling_config {
    min_size     = var.system_node_group.min_size
    max_size     = var.system_node_group.max_size
    desired_size = var.system_node_group.desired_size
  }

  update_config {
    max_unavailable = 1
  }

  node_repair_config {
    enabled = true
  }

  labels = {
    "harmony.chat/node-pool" = "system"
  }

  # Only pods that tolerate this (see the top of this file) land here;
  # workloads go to Karpenter's nodes.
  taint {
    key    = "CriticalAddonsOnly"
    value  = "true"
    effect = "NO_SCHEDULE"
  }

  depends_on = [
    aws_iam_role_policy_attachment.node,
    aws_eks_addon.vpc_cni,
    aws_eks_addon.kube_proxy,
    aws_eks_addon.pod_identity_agent,
  ]

  lifecycle {
    # Scaled by hand in an emergency; Terraform should not undo that.
    ignore_changes = [scaling_config[0].desired_size]
  }
}
