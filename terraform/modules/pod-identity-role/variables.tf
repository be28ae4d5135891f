variable "naming" {
  description = "Outputs of the naming module."
  type = object({
    name_prefix = string
    account_id  = string
  })
}

variable "name" {
  description = "Role name suffix: the role is <name_prefix>-<name>."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,38}[a-z0-9]$", var.name))
    error_message = "name must be a lowercase label of 2-40 characters."
  }
}

variable "description" {
  description = "What the role is for."
  type        = string
}

variable "cluster_name" {
  description = "EKS cluster whose pods may assume the role."
  type        = string
}

variable "namespace" {
  description = "Kubernetes namespace of the service account."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.namespace))
    error_message = "namespace must be a Kubernetes DNS label."
  }
}

variable "service_account" {
  description = "Kubernetes service account that gets the role."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", var.service_account))
    error_message = "service_account must be a Kubernetes DNS subdomain name."
  }
}

variable "policy_json" {
  description = "Inline policy of the role (JSON), or null for none."
  type        = string
  default     = null
}

variable "managed_policy_arns" {
  description = "AWS managed policies to attach."
  type        = list(string)
  default     = []
}

variable "create_association" {
  description = "Create the Pod Identity association. False when an EKS add-on manages the association itself."
  type        = bool
  default     = true
}
