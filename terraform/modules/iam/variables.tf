variable "naming" {
  description = "Outputs of the naming module."
  type = object({
    name_prefix = string
    partition   = string
    region      = string
    account_id  = string
  })
}

variable "cluster_name" {
  description = "EKS cluster the Pod Identity associations belong to."
  type        = string
}

variable "namespace" {
  description = "Namespace the Harmony workloads (the HarmonyChat resource) run in."
  type        = string
  default     = "harmony"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.namespace))
    error_message = "namespace must be a Kubernetes DNS label."
  }
}

variable "service_accounts" {
  description = <<-EOT
    Service account of each Harmony component that reaches DynamoDB, in the
    namespace. The operator names them <HarmonyChat name>-<component> (the
    defaults fit a HarmonyChat named "harmony"), or uses the one named by
    spec.dynamodb.serviceAccountName for all: components that share a service
    account share one role with the union of their permissions (Pod Identity
    binds one role per service account). Keys: api, sink, cdc, migrate,
    redpanda-connect (only with connectors.sink = redpandaConnect).
  EOT
  type        = map(string)
  default = {
    api     = "harmony-api"
    sink    = "harmony-sink"
    cdc     = "harmony-cdc"
    migrate = "harmony-migrate"
  }

  validation {
    condition     = length(setsubtract(keys(var.service_accounts), ["api", "sink", "cdc", "migrate", "redpanda-connect"])) == 0 && length(var.service_accounts) > 0
    error_message = "service_accounts keys must be among api, sink, cdc, migrate and redpanda-connect."
  }

  validation {
    condition     = alltrue([for sa in values(var.service_accounts) : can(regex("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", sa))])
    error_message = "service account names must be Kubernetes DNS subdomain names."
  }
}

variable "table_arn" {
  description = "ARN of the chat history table."
  type        = string
}

variable "table_kms_key_arn" {
  description = "Key encrypting the chat history table."
  type        = string
}

variable "external_secrets" {
  description = "Service account of the external-secrets controller, the Secrets Manager secrets it may read (exactly these) and the keys encrypting them."
  type = object({
    namespace       = optional(string, "external-secrets")
    service_account = optional(string, "external-secrets")
    secret_arns     = list(string)
    kms_key_arns    = list(string)
  })

  validation {
    condition     = length(var.external_secrets.secret_arns) > 0 && length(var.external_secrets.kms_key_arns) > 0
    error_message = "external_secrets needs at least one secret and the key encrypting it."
  }
}
