variable "naming" {
  description = "Outputs of the naming module."
  type = object({
    name_prefix    = string
    secrets_prefix = string
    partition      = string
    region         = string
    account_id     = string
  })
}

variable "vpc_id" {
  description = "VPC of the cache."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the cache subnet group."
  type        = list(string)
}

variable "allowed_security_group_ids" {
  description = "Security groups allowed to connect on 6379 (the EKS node security group)."
  type        = list(string)

  validation {
    condition     = length(var.allowed_security_group_ids) > 0
    error_message = "At least one client security group is needed, or nothing can connect."
  }
}

variable "engine" {
  description = "valkey (Redis-compatible, cheaper on ElastiCache) or redis."
  type        = string
  default     = "valkey"

  validation {
    condition     = contains(["valkey", "redis"], var.engine)
    error_message = "engine must be valkey or redis."
  }
}

variable "engine_version" {
  description = "Engine version, e.g. 8.0 (valkey) or 7.1 (redis)."
  type        = string
  default     = "8.0"
}

variable "node_type" {
  description = "Cache node type, e.g. cache.r7g.large."
  type        = string
  default     = "cache.t4g.small"

  validation {
    condition     = startswith(var.node_type, "cache.")
    error_message = "node_type must be an ElastiCache node type such as cache.r7g.large."
  }
}

variable "num_cache_clusters" {
  description = "Nodes in the replication group: 1 primary plus replicas. More than one turns on automatic failover across zones."
  type        = number

  validation {
    condition     = var.num_cache_clusters >= 1 && var.num_cache_clusters <= 6
    error_message = "num_cache_clusters must be between 1 and 6."
  }
}

variable "snapshot_retention_days" {
  description = "Days daily snapshots are kept (0 turns snapshots off)."
  type        = number
  default     = 7

  validation {
    condition     = var.snapshot_retention_days >= 0 && var.snapshot_retention_days <= 35
    error_message = "snapshot_retention_days must be between 0 and 35."
  }
}

variable "secret_recovery_window_days" {
  description = "Days a deleted auth secret can still be restored (0 deletes at once; only for throwaway environments)."
  type        = number
  default     = 30

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days must be 0 or between 7 and 30."
  }
}

variable "log_retention_days" {
  description = "Days the slow log is kept in CloudWatch Logs."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs accepts."
  }
}
