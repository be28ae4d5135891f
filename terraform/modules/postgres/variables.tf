variable "naming" {
  description = "Outputs of the naming module."
  type = object({
    name_prefix = string
    partition   = string
    region      = string
    account_id  = string
  })
}

variable "vpc_id" {
  description = "VPC of the database."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the DB subnet group (at least two zones)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "RDS needs subnets in at least two availability zones."
  }
}

variable "allowed_security_group_ids" {
  description = "Security groups allowed to connect on 5432 (the EKS node security group)."
  type        = list(string)

  validation {
    condition     = length(var.allowed_security_group_ids) > 0
    error_message = "At least one client security group is needed, or nothing can connect."
  }
}

variable "engine_version" {
  description = "PostgreSQL version. A major version (\"16\") lets RDS pick and upgrade the minor version."
  type        = string
  default     = "16"

  validation {
    condition     = can(regex("^16(\\.[0-9]+)?$", var.engine_version))
    error_message = "engine_version must be PostgreSQL 16 (\"16\" or \"16.x\"); the parameter group family is postgres16."
  }
}

variable "instance_class" {
  description = "Instance class, e.g. db.r7g.large."
  type        = string
  default     = "db.t4g.medium"

  validation {
    condition     = startswith(var.instance_class, "db.")
    error_message = "instance_class must be an RDS class such as db.r7g.large."
  }
}

variable "allocated_storage_gib" {
  description = "Initial gp3 storage in GiB."
  type        = number
  default     = 50

  validation {
    condition     = var.allocated_storage_gib >= 20 && var.allocated_storage_gib <= 65536
    error_message = "allocated_storage_gib must be between 20 and 65536."
  }
}

variable "max_allocated_storage_gib" {
  description = "Storage autoscaling ceiling in GiB (logical replication slots can pin WAL; leave headroom)."
  type        = number
  default     = 500
}

variable "db_name" {
  description = "Database created at launch."
  type        = string
  default     = "harmony"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.db_name))
    error_message = "db_name must be a lowercase PostgreSQL identifier."
  }
}

variable "master_username" {
  description = "Master user name; its password is generated and rotated by RDS in Secrets Manager."
  type        = string
  default     = "harmony_admin"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.master_username)) && !contains(["postgres", "admin", "rdsadmin"], var.master_username)
    error_message = "master_username must be a lowercase identifier and not a reserved name."
  }
}

variable "multi_az" {
  description = "Keep a synchronous standby in another zone (automatic failover)."
  type        = bool
}

variable "deletion_protection" {
  description = "Refuse to delete the instance until this is switched off."
  type        = bool
}

variable "backup_retention_days" {
  description = "Days automated backups (point-in-time restore) are kept."
  type        = number

  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 35
    error_message = "backup_retention_days must be between 1 and 35."
  }
}

variable "performance_insights_retention_days" {
  description = "Days Performance Insights data is kept: 7 (free) or a multiple of 31 up to 731."
  type        = number
  default     = 7

  validation {
    condition     = var.performance_insights_retention_days == 7 || var.performance_insights_retention_days == 731 || (var.performance_insights_retention_days % 31 == 0 && var.performance_insights_retention_days <= 713)
    error_message = "performance_insights_retention_days must be 7, a multiple of 31 up to 713, or 731."
  }
}

variable "max_slot_wal_keep_size_mb" {
  description = "WAL a replication slot may hold back before it is invalidated. Bounds disk use when the CDC reader stalls (the reader must then resnapshot)."
  type        = number
  default     = 20480
}

variable "log_retention_days" {
  description = "Days the exported PostgreSQL logs are kept in CloudWatch Logs."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs accepts."
  }
}
