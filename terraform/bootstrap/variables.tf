variable "region" {
  description = "Region of the state bucket."
  type        = string
}

variable "account_id" {
  description = "AWS account the bucket belongs to; the provider refuses any other."
  type        = string
}

variable "noncurrent_version_retention_days" {
  description = "Days old state versions are kept (how far back a state can be rolled back)."
  type        = number
  default     = 90

  validation {
    condition     = var.noncurrent_version_retention_days >= 30
    error_message = "Keep old state versions at least 30 days."
  }
}

variable "extra_tags" {
  description = "Additional tags."
  type        = map(string)
  default     = {}
}
