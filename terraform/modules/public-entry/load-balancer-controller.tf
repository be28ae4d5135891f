# The AWS Load Balancer Controller's IAM policy as the controller documents
# it (docs/install/iam_policy.json of kubernetes-sigs/aws-load-balancer-controller,
# v2.13), written in HCL. Its own limits are kept (what it creates must carry
# the tag elbv2.k8s.aws/cluster; what it changes or deletes must already
# carry it); resources are further narrowed to this account and region, and
# security groups to this VPC. Read-only Describe/Get calls cannot be scoped
# to resources.

locals {
  elb = "arn:${var.naming.partition}:elasticloadbalancing:${var.naming.region}:${var.naming.account_id}"
  ec2 = "arn:${var.naming.partition}:ec2:${var.naming.region}:${var.naming.account_id}"

  lbc_cluster_tag_exists = { Null = { "aws:ResourceTag/elbv2.k8s.aws/cluster" = "false" } }
  lbc_in_region          = { StringEquals = { "aws:RequestedRegion" = var.naming.region } }

  lbc_load_balancers = ["${local.elb}:loadbalancer/app/*/*", "${local.elb}:loadbalancer/net/*/*"]
  lbc_target_groups  = "${local.elb}:targetgroup/*/*"
  lbc_security_group = "${local.ec2}:security-group/*"

  load_balancer_controller_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "CreateElbServiceLinkedRole"
        Effect   = "Allow"
        Action   = "iam:CreateServiceLinkedRole"
        Resource = "arn:${var.naming.partition}:iam::${var.naming.account_id}:role/aws-service-role/elasticloadbalancing.amazonaws.com/*"
        Condition = {
          StringEquals = { "iam:AWSServiceName" = "elasticloadbalancing.amazonaws.com" }
        }
      },
      {
        Sid    = "Describe"
        Effect = "Allow"
        Action = [
          "ec2:DescribeAccountAttributes",
          "ec2:DescribeAddresses",
          "ec2:DescribeAvailabilityZones",
          "ec2:DescribeInternetGateways",
          "ec2:DescribeVpcs",
          "ec2:DescribeVpcPeeringConnections",
          "ec2:DescribeSubnets",
          "ec2:DescribeSecurityGroups",
          "ec2:DescribeInstances",
          "ec2:DescribeNetworkInterfaces",
          "ec2:DescribeTags",
          "ec2:GetCoipPoolUsage",
          "ec2:DescribeCoipPools",
          "ec2:GetSecurityGroupsForVpc",
          "ec2:DescribeIpamPools",
          "ec2:DescribeRouteTables",
          "elasticloadbalancing:DescribeLoadBalancers",
          "elasticloadbalancing:DescribeLoadBalancerAttributes",
          "elasticloadbalancing:DescribeListeners",
          "elasticloadbalancing:DescribeListenerCertificates",
          "elasticloadbalancing:DescribeSSLPolicies",
          "elasticloadbalancing:DescribeRules",
          "elasticloadbalancing:DescribeTargetGroups",
          "elasticloadbalancing:DescribeTargetGroupAttributes",
          "elasticloadbalancing:DescribeTargetHealth",
          "elasticloadbalancing:DescribeTags",
          "elasticloadbalancing:DescribeTrustStores",
          "elasticloadbalancing:DescribeListenerAttributes",
          "elasticloadbalancing:DescribeCapacityReservation",
        ]
        Resource  = "*"
        Condition = local.lbc_in_region
      },
      {
        # Certificates, WAF and Shield associations the Ingress annotations
        # may name; the controller reconciles them on every ALB.
        Sid    = "ReadCertificatesAndProtections"
        Effect = "Allow"
        Action = [
          "cognito-idp:DescribeUserPoolClient",
          "acm:ListCertificates",
          "acm:DescribeCertificate",
          "iam:ListServerCertificates",
          "iam:GetServerCertificate",
          "waf-regional:GetWebACL",
          "waf-regional:GetWebACLForResource",
          "waf-regional:AssociateWebACL",
          "waf-regional:DisassociateWebACL",
          "wafv2:GetWebACL",
          "wafv2:GetWebACLForResource",
          "wafv2:AssociateWebACL",
          "wafv2:DisassociateWebACL",
          "shield:GetSubscriptionState",
          "shield:DescribeProtection",
          "shield:CreateProtection",
          "shield:DeleteProtection",
        ]
        Resource = "*"
      },
      {
        # Opens the node security group to the load balancer's group (the
        # backend rules); the documented policy leaves these unconditioned.
        Sid      = "ManageIngressRules"
        Effect   = "Allow"
        Action   = ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"]
        Resource = local.lbc_security_group
      },
      {
        Sid      = "CreateSecurityGroupsInVpc"
        Effect   = "Allow"
        Action   = "ec2:CreateSecurityGroup"
        Resource = ["${local.ec2}:vpc/${var.vpc_id}", local.lbc_security_group]
      },
      {
        Sid      = "TagNewSecurityGroups"
        Effect   = "Allow"
        Action   = "ec2:CreateTags"
        Resource = local.lbc_security_group
        Condition = {
          StringEquals = { "ec2:CreateAction" = "CreateSecurityGroup" }
          Null         = { "aws:RequestTag/elbv2.k8s.aws/cluster" = "false" }
        }
      },
      {
        Sid      = "RetagOwnSecurityGroups"
        Effect   = "Allow"
        Action   = ["ec2:CreateTags", "ec2:DeleteTags"]
        Resource = local.lbc_security_group
        Condition = {
          Null = {
            "aws:RequestTag/elbv2.k8s.aws/cluster"  = "true"
            "aws:ResourceTag/elbv2.k8s.aws/cluster" = "false"
          }
        }
      },
      {
        Sid       = "ManageOwnSecurityGroups"
        Effect    = "Allow"
        Action    = ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress", "ec2:DeleteSecurityGroup"]
        Resource  = local.lbc_security_group
        Condition = local.lbc_cluster_tag_exists
      },
      {
        Sid      = "CreateTaggedLoadBalancers"
        Effect   = "Allow"
        Action   = ["elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup"]
        Resource = "${local.elb}:*"
        Condition = {
          Null = { "aws:RequestTag/elbv2.k8s.aws/cluster" = "false" }
        }
      },
      {
        Sid    = "ManageListenersAndRules"
        Effect = "Allow"
        Action = [
          "elasticloadbalancing:CreateListener",
          "elasticloadbalancing:DeleteListener",
          "elasticloadbalancing:CreateRule",
          "elasticloadbalancing:DeleteRule",
        ]
        Resource = "${local.elb}:*"
      },
      {
        Sid      = "RetagOwnLoadBalancers"
        Effect   = "Allow"
        Action   = ["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"]
        Resource = concat([local.lbc_target_groups], local.lbc_load_balancers)
        Condition = {
          Null = {
            "aws:RequestTag/elbv2.k8s.aws/cluster"  = "true"
            "aws:ResourceTag/elbv2.k8s.aws/cluster" = "false"
          }
        }
      },
      {
        Sid    = "TagListenersAndRules"
        Effect = "Allow"
        Action = ["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"]
        Resource = [
          "${local.elb}:listener/net/*/*/*",
          "${local.elb}:listener/app/*/*/*",
          "${local.elb}:listener-rule/net/*/*/*",
          "${local.elb}:listener-rule/app/*/*/*",
        ]
      },
      {
        Sid    = "ManageOwnLoadBalancers"
        Effect = "Allow"
        Action = [
          "elasticloadbalancing:ModifyLoadBalancerAttributes",
          "elasticloadbalancing:SetIpAddressType",
          "elasticloadbalancing:SetSecurityGroups",
          "elasticloadbalancing:SetSubnets",
          "elasticloadbalancing:DeleteLoadBalancer",
          "elasticloadbalancing:ModifyTargetGroup",
          "elasticloadbalancing:ModifyTargetGroupAttributes",
          "elasticloadbalancing:DeleteTargetGroup",
          "elasticloadbalancing:ModifyListenerAttributes",
          "elasticloadbalancing:ModifyCapacityReservation",
          "elasticloadbalancing:ModifyIpPools",
        ]
        Resource  = "${local.elb}:*"
        Condition = local.lbc_cluster_tag_exists
      },
      {
        Sid      = "TagOnCreate"
        Effect   = "Allow"
        Action   = "elasticloadbalancing:AddTags"
        Resource = concat([local.lbc_target_groups], local.lbc_load_balancers)
        Condition = {
          StringEquals = { "elasticloadbalancing:CreateAction" = ["CreateTargetGroup", "CreateLoadBalancer"] }
          Null         = { "aws:RequestTag/elbv2.k8s.aws/cluster" = "false" }
        }
      },
      {
        Sid      = "RegisterTargets"
        Effect   = "Allow"
        Action   = ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"]
        Resource = local.lbc_target_groups
      },
      {
        Sid    = "ManageListenerSettings"
        Effect = "Allow"
        Action = [
          "elasticloadbalancing:SetWebAcl",
          "elasticloadbalancing:ModifyListener",
          "elasticloadbalancing:AddListenerCertificates",
          "elasticloadbalancing:RemoveListenerCertificates",
          "elasticloadbalancing:ModifyRule",
          "elasticloadbalancing:SetRulePriorities",
        ]
        Resource = "${local.elb}:*"
      },
    ]
  })
}

module "load_balancer_controller_role" {
  source = "../pod-identity-role"

  naming          = var.naming
  name            = "aws-load-balancer-controller"
  description     = "AWS Load Balancer Controller of ${var.cluster_name}: load balancers tagged for this cluster, in this VPC."
  cluster_name    = var.cluster_name
  namespace       = var.load_balancer_controller.namespace
  service_account = var.load_balancer_controller.service_account
  policy_json     = local.load_balancer_controller_policy
}
