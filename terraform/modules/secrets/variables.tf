variable "naming" {
  description = "Outputs of the naming module."
  type = object({
    name_prefix = string
    ssm_prefix  = string
    partition   = string
    region      = string
    account_id  = string
  })
}

variable "parameters" {
  description = "Non-secret values to publish, by path below the SSM prefix (e.g. \"dynamodb/table-name\")."
  type        = map(string)

  validation {
    condition     = alltrue([for k in keys(var.parameters) : can(regex("^[a-z0-9][a-z0-9-]*(/[a-z0-9][a-z0-9-]*)*$", k))])
    error_message = "parameter paths must be lowercase segments separated by '/', e.g. dynamodb/table-name."
  }
}
