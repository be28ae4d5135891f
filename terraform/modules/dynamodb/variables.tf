variable "naming" {
  description = "Outputs of the naming module."
  type = object({
    name_prefix = string
    partition   = string
    region      = string
    account_id  = string
  })
}

variable "table_name" {
  description = "Chat history table name; null means <name_prefix>-chat-history. Harmony reads it from DYNAMODB__CHAT_HISTORY_TABLE_NAME (the HarmonyChat's dynamodb.table)."
  type        = string
  default     = null

  validation {
    condition     = var.table_name == null || can(regex("^[A-Za-z0-9_.-]{3,255}$", var.table_name))
    error_message = "table_name must be 3-255 characters of letters, digits, '_', '-' and '.'."
  }
}

variable "deletion_protection" {
  description = "Refuse to delete the table until this is switched off."
  type        = bool
}

variable "point_in_time_recovery_days" {
  description = "Days of continuous backups point-in-time recovery can restore from."
  type        = number
  default     = 35

  validation {
    condition     = var.point_in_time_recovery_days >= 1 && var.point_in_time_recovery_days <= 35
    error_message = "point_in_time_recovery_days must be between 1 and 35."
  }
}
