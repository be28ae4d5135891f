output "cluster_name" {
  description = "Name of the cluster."
  value       = aws_eks_cluster.this.name
}

output "cluster_arn" {
  description = "ARN of the cluster."
  value       = aws_eks_cluster.this.arn
}

output "cluster_endpoint" {
  description = "API server endpoint."
  value       = aws_eks_cluster.this.endpoint
}

output "cluster_certificate_authority_data" {
  description = "Base64 CA bundle of the API server (public)."
  value       = aws_eks_cluster.this.certificate_authority[0].data
}

output "node_security_group_id" {
  description = "The cluster security group, shared by every node (managed and Karpenter); data stores admit it."
  value       = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
}

output "karpenter" {
  description = "Values the Karpenter Helm release (cluster_name, interruption_queue) and its EC2NodeClass (node_role_name; subnets and security group selected by the tag karpenter.sh/discovery = discovery_tag) need."
  value = {
    cluster_name       = aws_eks_cluster.this.name
    interruption_queue = aws_sqs_queue.karpenter.name
    node_role_name     = aws_iam_role.karpenter_node.name
    controller_role    = module.karpenter_controller_role.role_arn
    discovery_tag      = aws_ec2_tag.cluster_sg_karpenter.value
  }
}

output "ebs_csi" {
  description = "The EBS CSI driver's role and the key a StorageClass may name as kmsKeyId (key ARN, or the alias ARN, which follows the naming convention)."
  value = {
    role_arn      = module.ebs_csi_role.role_arn
    kms_key_arn   = module.ebs_kms.key_arn
    kms_alias_arn = "arn:${local.partition}:kms:${local.region}:${local.account_id}:${module.ebs_kms.alias_name}"
  }
}
