# The per-environment knobs. Safety settings have no defaults, so each root
# states them as literals (checkov reads .tf literals, not tfvars). Ranges
# are validated by the module each value goes to; the validations here cover
# what only this module sees: how values combine.

# --- where -----------------------------------------------------------------

variable "environment" {
  description = "Environment name (staging, prod); validated by modules/naming."
  type        = string
}

variable "region" {
  description = "AWS region of the environment."
  type        = string
}

variable "account_id" {
  description = "AWS account of the environment."
  type        = string
}

variable "extra_tags" {
  description = "Additional tags for every resource."
  type        = map(string)
  default     = {}
}

variable "availability_zones" {
  description = "The three availability zones of the region to spread over."
  type        = list(string)
}

variable "vpc_cidr" {
  description = "IPv4 CIDR of the VPC (must not overlap peered networks)."
  type        = string
}

# --- safety and retention ----------------------------------------------------

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones (cheaper; egress fails with that zone) instead of one per zone."
  type        = bool
}

variable "deletion_protection" {
  description = "Deletion protection on the EKS cluster, the RDS instance and the DynamoDB table."
  type        = bool
}

variable "log_retention_days" {
  description = "Days every CloudWatch log group (VPC flow logs, EKS control plane, PostgreSQL, Redis slow log, MSK brokers) keeps its logs."
  type        = number
}

variable "secret_recovery_window_days" {
  description = "Days a deleted Postgres, Redis or MSK credentials secret can still be restored (0 or 7-30)."
  type        = number
}

# --- EKS -------------------------------------------------------------------------

variable "kubernetes_version" {
  description = "EKS Kubernetes minor version."
  type        = string
}

variable "eks_endpoint_public_access" {
  description = "Also expose the EKS API endpoint publicly, limited to eks_public_access_cidrs; false keeps it private only."
  type        = bool

  validation {
    # checkov's accepted CKV_AWS_39 (public endpoint) cannot tell the roots
    # apart through this module, so prod's private endpoint is held here.
    condition     = !(var.environment == "prod" && var.eks_endpoint_public_access)
    error_message = "prod's EKS API endpoint must stay private (eks_endpoint_public_access = false)."
  }
}

variable "eks_public_access_cidrs" {
  description = "CIDRs allowed to reach the public EKS API endpoint."
  type        = list(string)
  default     = []

  validation {
    # A public endpoint without an allow-list, or an allow-list that does
    # nothing, is a mistake in the root either way.
    condition     = var.eks_endpoint_public_access == (length(var.eks_public_access_cidrs) > 0)
    error_message = "eks_public_access_cidrs must be non-empty exactly when eks_endpoint_public_access is true."
  }
}

variable "eks_admin_principal_arns" {
  description = "IAM roles granted cluster-admin through EKS access entries."
  type        = list(string)
  default     = []
}

variable "system_node_group" {
  description = "Instance types and sizes of the system node group; ami_type and disk_size_gib left null take modules/eks' defaults."
  type = object({
    instance_types = list(string)
    min_size       = number
    desired_size   = number
    max_size       = number
    ami_type       = optional(string)
    disk_size_gib  = optional(number)
  })

  validation {
    # A zone outage must not take every system node with it.
    condition     = var.system_node_group.min_size >= 2
    error_message = "system_node_group.min_size must be at least 2."
  }
}

# --- data stores ---------------------------------------------------------------

variable "postgres_instance_class" {
  description = "RDS instance class."
  type        = string
}

variable "postgres_multi_az" {
  description = "Run RDS with a standby in another zone."
  type        = bool
}

variable "postgres_backup_retention_days" {
  description = "Days RDS automated backups (point-in-time restore) are kept."
  type        = number
}

variable "postgres_performance_insights_retention_days" {
  description = "Days Performance Insights data is kept: 7 (free) or a multiple of 31."
  type        = number
  default     = 7
}

variable "postgres_password_version" {
  description = "Bump to generate a new Postgres master password."
  type        = number
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
}

variable "redis_num_cache_clusters" {
  description = "ElastiCache nodes: 1 primary plus replicas; more than one turns on automatic failover."
  type        = number

  validation {
    # Replicas only help in other zones; there are three.
    condition     = var.redis_num_cache_clusters <= 3
    error_message = "redis_num_cache_clusters must be at most 3 (one per zone)."
  }
}

variable "redis_snapshot_retention_days" {
  description = "Days ElastiCache daily snapshots are kept."
  type        = number
}

variable "dynamodb_table_name" {
  description = "Chat history table name; null means <prefix>-chat-history. Set it to a table restored to a point in time (then import that table into this module's state)."
  type        = string
  default     = null
}

variable "dynamodb_point_in_time_recovery_days" {
  description = "Days of continuous backups the chat history table can be restored from."
  type        = number
}

variable "kafka_instance_type" {
  description = "MSK broker instance type (one broker per zone)."
  type        = string
}

variable "kafka_ebs_volume_size_gib" {
  description = "Initial EBS storage per MSK broker in GiB."
  type        = number
}

variable "kafka_max_ebs_volume_size_gib" {
  description = "Ceiling of MSK storage auto-scaling per broker in GiB."
  type        = number
}

variable "kafka_enhanced_monitoring" {
  description = "MSK CloudWatch metrics level (PER_BROKER, PER_TOPIC_PER_BROKER, ...)."
  type        = string
}

variable "kafka_scram_password_version" {
  description = "Bump to generate a new MSK SASL/SCRAM password."
  type        = number
}

# --- workloads -------------------------------------------------------------------

variable "harmony_namespace" {
  description = "Namespace of the HarmonyChat resource and its workloads."
  type        = string
}

variable "harmony_service_accounts" {
  description = "Service account per Harmony component that reaches AWS; see modules/iam."
  type        = map(string)
}

# --- public entry -------------------------------------------------------------------

variable "public_host" {
  description = "Host name of the environment's one public entry (web app, API, WebSocket), inside the zone route53_zone_id; validated by modules/public-entry."
  type        = string
}

variable "route53_zone_id" {
  description = "Route53 public hosted zone of public_host: the certificate is validated there and external-dns writes the host's record there."
  type        = string
}
