variable "region" {
  description = "AWS region of the environment."
  type        = string
}

variable "account_id" {
  description = "AWS account of the environment; the provider refuses to touch any other."
  type        = string
}

variable "availability_zones" {
  description = "Three availability zones of the region."
  type        = list(string)
}

variable "vpc_cidr" {
  description = "IPv4 CIDR of the VPC (must not overlap peered networks)."
  type        = string
}

variable "kubernetes_version" {
  description = "EKS Kubernetes minor version."
  type        = string
  default     = "1.33"
}

variable "eks_admin_principal_arns" {
  description = "IAM roles granted cluster-admin through EKS access entries."
  type        = list(string)
  default     = []
}

variable "harmony_namespace" {
  description = "Namespace of the HarmonyChat resource and its workloads."
  type        = string
  default     = "harmony"
}

variable "harmony_service_accounts" {
  description = "Service account per Harmony component that reaches AWS (api, sink, cdc, migrate, redpanda-connect), as the operator names them: <HarmonyChat name>-<component>. Shared names share a role. See modules/iam."
  type        = map(string)
  default = {
    api     = "harmony-api"
    sink    = "harmony-sink"
    cdc     = "harmony-cdc"
    migrate = "harmony-migrate"
  }
}

variable "postgres_password_version" {
  description = "Bump to generate a new Postgres master password (RDS and harmony/<env>/postgres change in the same apply; restart Harmony after external-secrets refreshes)."
  type        = number
  default     = 1
}

variable "kafka_scram_password_version" {
  description = "Bump to generate a new MSK SASL/SCRAM password (the old one stops working once MSK loads the new one; restart Harmony after external-secrets refreshes)."
  type        = number
  default     = 1
}

variable "extra_tags" {
  description = "Additional tags for every resource."
  type        = map(string)
  default     = {}
}

variable "public_host" {
  description = "Host name of the environment's public entry (web app, API and WebSocket behind one ALB with an ACM certificate), inside route53_zone_id."
  type        = string
}

variable "route53_zone_id" {
  description = "Route53 public hosted zone holding public_host (the certificate's DNS validation and external-dns' record)."
  type        = string
}
