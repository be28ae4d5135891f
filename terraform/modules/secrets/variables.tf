variable "naming" {
  description = "Outputs of the naming module."
  type = object({
    name_prefix    = string
    ssm_prefix     = string
    secrets_prefix = string
    partition      = string
    region         = string
    account_id     = string
  })
}

variable "auth_secret_version" {
  description = "Bump to generate new Harmony auth secrets (signs everyone out: access and refresh tokens are signed with them)."
  type        = number
  default     = 1

  validation {
    condition     = var.auth_secret_version >= 1 && floor(var.auth_secret_version) == var.auth_secret_version
    error_message = "auth_secret_version must be a positive whole number."
  }
}

variable "secret_recovery_window_days" {
  description = "Days a deleted secret can still be restored (0 deletes at once; only for throwaway environments)."
  type        = number
  default     = 30

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days must be 0 or between 7 and 30."
  }
}

variable "parameters" {
  description = "Non-secret values to publish for GitOps, by path below the SSM prefix (e.g. \"dynamodb/table-name\")."
  type        = map(string)

  validation {
    condition     = alltrue([for k in keys(var.parameters) : can(regex("^[a-z0-9][a-z0-9-]*(/[a-z0-9][a-z0-9-]*)*$", k))])
    error_message = "parameter paths must be lowercase segments separated by '/', e.g. dynamodb/table-name."
  }
}
