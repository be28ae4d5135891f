# Karpenter: the AWS side only (roles, interruption queue, access entry).
# The controller's Helm release, EC2NodeClass and NodePools are GitOps'.

locals {
  karpenter_queue = "${local.name}-karpenter"
  ec2_arn         = "arn:${local.partition}:ec2:${local.region}"
  # Tags Karpenter puts on everything it launches; the policy below only lets
  # it touch resources carrying them.
  owned_tag = "aws:ResourceTag/kubernetes.io/cluster/${local.name}"
  owned_req = "aws:RequestTag/kubernetes.io/cluster/${local.name}"
}

# --- Node role: what Karpenter-launched nodes run as -------------------------

resource "aws_iam_role" "karpenter_node" {
  name        = "${local.name}-karpenter-node"
  description = "Nodes launched by Karpenter in ${local.name}."

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy_attachment" "karpenter_node" {
  for_each = toset([
    "AmazonEKSWorkerNodePolicy",
    "AmazonEC2ContainerRegistryPullOnly",
    "AmazonSSMManagedInstanceCore",
  ])

  role       = aws_iam_role.karpenter_node.name
  policy_arn = "${local.policy_prefix}/${each.value}"
}

# Lets the nodes join the cluster (instead of an aws-auth entry).
resource "aws_eks_access_entry" "karpenter_node" {
  cluster_name  = aws_eks_cluster.this.name
  principal_arn = aws_iam_role.karpenter_node.arn
  type          = "EC2_LINUX"
}

# --- Interruption queue: spot reclaims, rebalances, health events ----------

resource "aws_sqs_queue" "karpenter" {
  name                      = local.karpenter_queue
  message_retention_seconds = 300  # Stale interruption notices are useless.
  sqs_managed_sse_enabled   = true # EventBridge cannot publish to a queue under a customer key without extra grants.
}

resource "aws_sqs_queue_policy" "karpenter" {
  queue_url = aws_sqs_queue.karpenter.url

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "EventBridgeDelivers"
        Effect    = "Allow"
        Principal = { Service = ["events.amazonaws.com", "sqs.amazonaws.com"] }
        Action    = "sqs:SendMessage"
        Resource  = aws_sqs_queue.karpenter.arn
        Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
      },
      {
        Sid       = "DenyPlaintextTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "sqs:*"
        Resource  = aws_sqs_queue.karpenter.arn
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })
}

locals {
  karpenter_events = {
    health-event = {
      source      = ["aws.health"]
      detail-type = ["AWS Health Event"]
    }
    spot-interruption = {
      source      = ["aws.ec2"]
      detail-type = ["EC2 Spot Instance Interruption Warning"]
    }
    rebalance = {
      source      = ["aws.ec2"]
      detail-type = ["EC2 Instance Rebalance Recommendation"]
    }
    instance-state-change = {
      source      = ["aws.ec2"]
      detail-type = ["EC2 Instance State-change Notification"]
    }
  }
}

resource "aws_cloudwatch_event_rule" "karpenter" {
  for_each = local.karpenter_events

  name          = "${local.name}-karpenter-${each.key}"
  description   = "Karpenter interruption handling for ${local.name}: ${each.key}."
  event_pattern = jsonencode(each.value)
}

resource "aws_cloudwatch_event_target" "karpenter" {
  for_each = local.karpenter_events

  rule      = aws_cloudwatch_event_rule.karpenter[each.key].name
  target_id = "karpenter-interruption-queue"
  arn       = aws_sqs_queue.karpenter.arn
}

# --- Controller role (Pod Identity) ------------------------------------------

locals {
  karpenter_controller_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid    = "LaunchFromSharedResources"
        Effect = "Allow"
        Action = ["ec2:RunInstances", "ec2:CreateFleet"]
        Resource = [
          "${local.ec2_arn}::image/*",
          "${local.ec2_arn}::snapshot/*",
          "${local.ec2_arn}:*:security-group/*",
          "${local.ec2_arn}:*:subnet/*",
          "${local.ec2_arn}:*:capacity-reservation/*",
        ]
      },
      {
        Sid      = "LaunchFromOwnLaunchTemplates"
        Effect   = "Allow"
        Action   = ["ec2:RunInstances", "ec2:CreateFleet"]
        Resource = "${local.ec2_arn}:*:launch-template/*"
        Condition = {
          StringEquals = { (local.owned_tag) = "owned" }
          StringLike   = { "aws:ResourceTag/karpenter.sh/nodepool" = "*" }
        }
      },
      {
        Sid    = "CreateOnlyTaggedResources"
        Effect = "Allow"
        Action = ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"]
        Resource = [
          "${local.ec2_arn}:*:fleet/*",
          "${local.ec2_arn}:*:instance/*",
          "${local.ec2_arn}:*:volume/*",
          "${local.ec2_arn}:*:network-interface/*",
          "${local.ec2_arn}:*:launch-template/*",
          "${local.ec2_arn}:*:spot-instances-request/*",
        ]
        Condition = {
          StringEquals = {
            (local.owned_req)                     = "owned"
            "aws:RequestTag/eks:eks-cluster-name" = local.name
          }
          StringLike = { "aws:RequestTag/karpenter.sh/nodepool" = "*" }
        }
      },
      {
        Sid    = "TagOnCreate"
        Effect = "Allow"
        Action = "ec2:CreateTags"
        Resource = [
          "${local.ec2_arn}:*:fleet/*",
          "${local.ec2_arn}:*:instance/*",
          "${local.ec2_arn}:*:volume/*",
          "${local.ec2_arn}:*:network-interface/*",
          "${local.ec2_arn}:*:launch-template/*",
          "${local.ec2_arn}:*:spot-instances-request/*",
        ]
        Condition = {
          StringEquals = {
            (local.owned_req)                     = "owned"
            "aws:RequestTag/eks:eks-cluster-name" = local.name
            "ec2:CreateAction"                    = ["RunInstances", "CreateFleet", "CreateLaunchTemplate"]
          }
          StringLike = { "aws:RequestTag/karpenter.sh/nodepool" = "*" }
        }
      },
      {
        Sid      = "RetagOwnInstances"
        Effect   = "Allow"
        Action   = "ec2:CreateTags"
        Resource = "${local.ec2_arn}:*:instance/*"
        Condition = {
          StringEquals = { (local.owned_tag) = "owned" }
          StringLike   = { "aws:ResourceTag/karpenter.sh/nodepool" = "*" }
          StringEqualsIfExists = {
            "aws:RequestTag/eks:eks-cluster-name" = local.name
          }
          "ForAllValues:StringEquals" = {
            "aws:TagKeys" = ["eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"]
          }
        }
      },
      {
        Sid    = "DeleteOwnResources"
        Effect = "Allow"
        Action = ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"]
        Resource = [
          "${local.ec2_arn}:*:instance/*",
          "${local.ec2_arn}:*:launch-template/*",
        ]
        Condition = {
          StringEquals = { (local.owned_tag) = "owned" }
          StringLike   = { "aws:ResourceTag/karpenter.sh/nodepool" = "*" }
        }
      },
      {
        # Describe calls cannot be scoped to resources; scoped to the region.
        Sid    = "DescribeInRegion"
        Effect = "Allow"
        Action = [
          "ec2:DescribeAvailabilityZones",
          "ec2:DescribeCapacityReservations",
          "ec2:DescribeImages",
          "ec2:DescribeInstances",
          "ec2:DescribeInstanceTypeOfferings",
          "ec2:DescribeInstanceTypes",
          "ec2:DescribeLaunchTemplates",
          "ec2:DescribeSecurityGroups",
          "ec2:DescribeSpotPriceHistory",
          "ec2:DescribeSubnets",
        ]
        Resource  = "*"
        Condition = { StringEquals = { "aws:RequestedRegion" = local.region } }
      },
      {
        Sid      = "ReadPublicAmiParameters"
        Effect   = "Allow"
        Action   = "ssm:GetParameter"
        Resource = "arn:${local.partition}:ssm:${local.region}::parameter/aws/service/*"
      },
      {
        # The Pricing API has no resources to scope to.
        Sid      = "ReadPrices"
        Effect   = "Allow"
        Action   = "pricing:GetProducts"
        Resource = "*"
      },
      {
        Sid      = "ConsumeInterruptionQueue"
        Effect   = "Allow"
        Action   = ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"]
        Resource = aws_sqs_queue.karpenter.arn
      },
      {
        Sid       = "PassNodeRoleToEc2"
        Effect    = "Allow"
        Action    = "iam:PassRole"
        Resource  = aws_iam_role.karpenter_node.arn
        Condition = { StringEquals = { "iam:PassedToService" = "ec2.amazonaws.com" } }
      },
      {
        Sid      = "CreateOwnInstanceProfiles"
        Effect   = "Allow"
        Action   = "iam:CreateInstanceProfile"
        Resource = "arn:${local.partition}:iam::${local.account_id}:instance-profile/*"
        Condition = {
          StringEquals = {
            (local.owned_req)                              = "owned"
            "aws:RequestTag/eks:eks-cluster-name"          = local.name
            "aws:RequestTag/topology.kubernetes.io/region" = local.region
          }
          StringLike = { "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass" = "*" }
        }
      },
      {
        Sid      = "TagOwnInstanceProfiles"
        Effect   = "Allow"
        Action   = "iam:TagInstanceProfile"
        Resource = "arn:${local.partition}:iam::${local.account_id}:instance-profile/*"
        Condition = {
          StringEquals = {
            (local.owned_tag)                               = "owned"
            "aws:ResourceTag/topology.kubernetes.io/region" = local.region
            (local.owned_req)                               = "owned"
            "aws:RequestTag/eks:eks-cluster-name"           = local.name
            "aws:RequestTag/topology.kubernetes.io/region"  = local.region
          }
          StringLike = {
            "aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass" = "*"
            "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass"  = "*"
          }
        }
      },
      {
        Sid    = "ManageOwnInstanceProfiles"
        Effect = "Allow"
        Action = [
          "iam:AddRoleToInstanceProfile",
          "iam:RemoveRoleFromInstanceProfile",
          "iam:DeleteInstanceProfile",
        ]
        Resource = "arn:${local.partition}:iam::${local.account_id}:instance-profile/*"
        Condition = {
          StringEquals = {
            (local.owned_tag)                               = "owned"
            "aws:ResourceTag/topology.kubernetes.io/region" = local.region
          }
          StringLike = { "aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass" = "*" }
        }
      },
      {
        Sid      = "ReadInstanceProfiles"
        Effect   = "Allow"
        Action   = ["iam:GetInstanceProfile", "iam:ListInstanceProfiles"]
        Resource = "arn:${local.partition}:iam::${local.account_id}:instance-profile/*"
      },
      {
        Sid      = "DiscoverApiEndpoint"
        Effect   = "Allow"
        Action   = "eks:DescribeCluster"
        Resource = local.cluster_arn
      },
    ]
  })
}

module "karpenter_controller_role" {
  source = "../pod-identity-role"

  naming          = var.naming
  name            = "karpenter"
  description     = "Karpenter controller of ${local.name}."
  cluster_name    = aws_eks_cluster.this.name
  namespace       = var.karpenter.namespace
  service_account = var.karpenter.service_account
  policy_json     = local.karpenter_controller_policy
}
