variable "naming" {
  description = "Outputs of the naming module."
  type = object({
    name_prefix             = string
    partition               = string
    region                  = string
    account_id              = string
    kafka_scram_secret_name = string
  })

  validation {
    condition     = startswith(var.naming.kafka_scram_secret_name, "AmazonMSK_")
    error_message = "MSK only associates SCRAM secrets whose name starts with AmazonMSK_."
  }
}

variable "vpc_id" {
  description = "VPC of the brokers."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the brokers, one per availability zone (MSK accepts two or three)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2 && length(var.subnet_ids) <= 3
    error_message = "MSK needs client subnets in two or three availability zones."
  }
}

variable "allowed_security_group_ids" {
  description = "Security groups allowed to connect on 9096 (SASL/SCRAM over TLS): the EKS node security group."
  type        = list(string)

  validation {
    condition     = length(var.allowed_security_group_ids) > 0
    error_message = "At least one client security group is needed, or nothing can connect."
  }
}

variable "kafka_version" {
  description = "Apache Kafka version as MSK names it. \".kraft\" creates the cluster in KRaft mode (no ZooKeeper; fixed at creation, and the only way on to Kafka 4)."
  type        = string
  default     = "3.9.x.kraft"

  validation {
    condition     = can(regex("^3\\.[0-9]+\\.([0-9]+|x)(\\.kraft)?$", var.kafka_version))
    error_message = "kafka_version must be an MSK 3.x version such as 3.9.x.kraft or 3.8.x."
  }
}

variable "broker_count" {
  description = "Brokers in the cluster; null means one per subnet. MSK spreads them evenly over the zones, so it must be a multiple of the subnet count, and at least 3 for replication factor 3."
  type        = number
  default     = null

  validation {
    condition = var.broker_count == null ? length(var.subnet_ids) >= 3 : (
      var.broker_count >= 3 && floor(var.broker_count) == var.broker_count && var.broker_count % length(var.subnet_ids) == 0
    )
    error_message = "broker_count must be a whole multiple of the number of subnets and at least 3 (with two subnets, set it to 4 or more)."
  }
}

variable "instance_type" {
  description = "Standard broker instance type, e.g. kafka.m7g.large (kafka.t3.small for small test environments)."
  type        = string
  default     = "kafka.m7g.large"

  validation {
    # Express brokers (express.*) have no EBS volumes or broker logs.
    condition     = startswith(var.instance_type, "kafka.")
    error_message = "instance_type must be a standard MSK broker type such as kafka.m7g.large."
  }
}

variable "ebs_volume_size_gib" {
  description = "Initial EBS storage per broker in GiB. Auto-scaling grows it up to max_ebs_volume_size_gib; Terraform does not change it after creation."
  type        = number
  default     = 100

  validation {
    condition     = var.ebs_volume_size_gib >= 1 && var.ebs_volume_size_gib <= 16384
    error_message = "ebs_volume_size_gib must be between 1 and 16384."
  }
}

variable "max_ebs_volume_size_gib" {
  description = "Ceiling of the storage auto-scaling per broker in GiB."
  type        = number
  default     = 1000

  validation {
    condition     = var.max_ebs_volume_size_gib >= var.ebs_volume_size_gib && var.max_ebs_volume_size_gib <= 16384
    error_message = "max_ebs_volume_size_gib must be at least ebs_volume_size_gib and at most 16384."
  }
}

variable "storage_target_utilization" {
  description = "Disk use (percent) at which storage auto-scaling grows the volumes (AWS suggests 50-60: a scaling can happen only once every six hours)."
  type        = number
  default     = 60

  validation {
    condition     = var.storage_target_utilization >= 10 && var.storage_target_utilization <= 80
    error_message = "storage_target_utilization must be between 10 and 80."
  }
}

variable "enhanced_monitoring" {
  description = "CloudWatch metrics level: DEFAULT (free), PER_BROKER, PER_TOPIC_PER_BROKER or PER_TOPIC_PER_PARTITION (beyond DEFAULT, billed per metric)."
  type        = string
  default     = "PER_BROKER"

  validation {
    condition     = contains(["DEFAULT", "PER_BROKER", "PER_TOPIC_PER_BROKER", "PER_TOPIC_PER_PARTITION"], var.enhanced_monitoring)
    error_message = "enhanced_monitoring must be DEFAULT, PER_BROKER, PER_TOPIC_PER_BROKER or PER_TOPIC_PER_PARTITION."
  }
}

variable "scram_username" {
  description = "SASL/SCRAM user name stored in the secret (not secret)."
  type        = string
  default     = "harmony"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_-]{0,63}$", var.scram_username))
    error_message = "scram_username must be a short lowercase name."
  }
}

variable "scram_password_version" {
  description = "Bump to generate a new SASL/SCRAM password. The old one stops working once MSK loads the new one: clients must pick it up (external-secrets refresh, then a restart)."
  type        = number
  default     = 1

  validation {
    condition     = var.scram_password_version >= 1 && floor(var.scram_password_version) == var.scram_password_version
    error_message = "scram_password_version must be a positive whole number."
  }
}

variable "secret_recovery_window_days" {
  description = "Days a deleted SCRAM secret can still be restored (0 deletes at once; only for throwaway environments)."
  type        = number
  default     = 30

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days must be 0 or between 7 and 30."
  }
}

variable "log_retention_days" {
  description = "Days broker logs are kept in CloudWatch Logs."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs accepts."
  }
}
