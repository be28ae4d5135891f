variable "naming" {
  description = "Outputs of the naming module."
  type = object({
    name_prefix  = string
    partition    = string
    region       = string
    account_id   = string
    bucket_names = map(string)
  })
}

variable "data_noncurrent_days" {
  description = "Days a deleted or overwritten AutoMQ data object stays recoverable. AutoMQ deletes compacted objects all the time, so keep this short."
  type        = number
  default     = 3

  validation {
    condition     = var.data_noncurrent_days >= 1 && var.data_noncurrent_days <= 30
    error_message = "data_noncurrent_days must be between 1 and 30."
  }
}

variable "ops_retention_days" {
  description = "Days AutoMQ's ops data (metrics, logs, diagnostics dumps) is kept."
  type        = number
  default     = 30

  validation {
    condition     = var.ops_retention_days >= 1
    error_message = "ops_retention_days must be at least 1."
  }
}

variable "force_destroy" {
  description = "Allow destroying non-empty buckets (throwaway environments only)."
  type        = bool
  default     = false
}
