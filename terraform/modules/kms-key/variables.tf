variable "naming" {
  description = "Outputs of the naming module."
  type = object({
    name_prefix = string
    partition   = string
    region      = string
    account_id  = string
  })
}

variable "purpose" {
  description = "What the key protects; becomes the alias alias/<name_prefix>-<purpose>."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}[a-z0-9]$", var.purpose))
    error_message = "purpose must be a lowercase label of 2-32 characters."
  }
}

variable "description" {
  description = "Key description shown in the KMS console."
  type        = string
}

variable "deletion_window_in_days" {
  description = "Days a scheduled key deletion can still be cancelled."
  type        = number
  default     = 30

  validation {
    condition     = var.deletion_window_in_days >= 7 && var.deletion_window_in_days <= 30
    error_message = "deletion_window_in_days must be between 7 and 30."
  }
}

variable "cloudwatch_log_group_names" {
  description = "CloudWatch Logs groups allowed to encrypt with this key (the logs service needs a key-policy grant)."
  type        = list(string)
  default     = []
}

variable "service_principals" {
  description = "AWS service principals (e.g. events.amazonaws.com) allowed to use the key for data keys, limited to this account."
  type        = list(string)
  default     = []
}
