variable "naming" {
  description = "Outputs of the naming module."
  type = object({
    name_prefix    = string
    environment    = string
    region         = string
    secrets_prefix = string
  })
}

variable "namespace" {
  description = "Namespace Argo CD runs in (where it looks for cluster Secrets)."
  type        = string
  default     = "argocd"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.namespace))
    error_message = "namespace must be a Kubernetes DNS label."
  }
}

variable "create_namespace" {
  description = "Create the namespace (Terraform runs before Argo CD is installed). False when something else already owns it."
  type        = bool
  default     = true
}

variable "server" {
  description = "API server address Argo CD uses for this cluster: the in-cluster address, since Argo CD runs in the environment's own cluster."
  type        = string
  default     = "https://kubernetes.default.svc"

  validation {
    condition     = startswith(var.server, "https://")
    error_message = "server must be an https:// URL."
  }
}

variable "kafka_bootstrap_servers" {
  description = "Kafka bootstrap servers (MSK's SASL/SCRAM brokers, host:port comma-separated): the HarmonyChat's spec.kafka.bootstrapServers."
  type        = string

  validation {
    condition     = can(regex("^[^,\\s]+:[0-9]+(,[^,\\s]+:[0-9]+)*$", var.kafka_bootstrap_servers))
    error_message = "kafka_bootstrap_servers must be a comma-separated host:port list."
  }
}

variable "dynamodb_table" {
  description = "Chat history table: the HarmonyChat's spec.dynamodb.table."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{3,255}$", var.dynamodb_table))
    error_message = "dynamodb_table must be a DynamoDB table name."
  }
}

variable "kafka_secret_name" {
  description = "Secrets Manager name of the MSK SASL/SCRAM credentials (AmazonMSK_*), read by external-secrets."
  type        = string

  validation {
    condition     = startswith(var.kafka_secret_name, "AmazonMSK_")
    error_message = "kafka_secret_name must be an AmazonMSK_* secret name (MSK reads no other)."
  }
}

variable "public_host" {
  description = "Host name of the environment's public entry: the Ingress host."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.public_host))
    error_message = "public_host must be a lowercase DNS name."
  }
}

variable "certificate_arn" {
  description = "ARN of the issued ACM certificate of public_host, for the Ingress's HTTPS listener."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/.+$", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN."
  }
}
