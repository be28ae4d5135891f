variable "naming" {
  description = "Outputs of the naming module."
  type = object({
    name_prefix  = string
    cluster_name = string
    partition    = string
    region       = string
    account_id   = string
  })
}

variable "cluster_name" {
  description = "EKS cluster whose pods get the controllers' roles (Pod Identity)."
  type        = string
}

variable "vpc_id" {
  description = "VPC the load balancers and their security groups are created in."
  type        = string
}

variable "zone_id" {
  description = "Route53 public hosted zone holding public_host: the ACM validation record goes there, and external-dns may change records there and nowhere else."
  type        = string

  validation {
    condition     = can(regex("^Z[A-Z0-9]{1,31}$", var.zone_id))
    error_message = "zone_id must be a Route53 hosted zone id such as Z0123456789ABCDEFGHIJ."
  }
}

variable "public_host" {
  description = "Host name of the environment's one public entry (web app, API and WebSocket), e.g. chat.example.com; inside the zone zone_id."
  type        = string

  validation {
    # One name, no wildcard: the certificate covers exactly this host.
    condition     = can(regex("^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.public_host)) && length(var.public_host) <= 253
    error_message = "public_host must be a lowercase DNS name without a wildcard or trailing dot."
  }
}

variable "load_balancer_controller" {
  description = "Service account of the AWS Load Balancer Controller."
  type = object({
    namespace       = optional(string, "kube-system")
    service_account = optional(string, "aws-load-balancer-controller")
  })
  default = {}
}

variable "external_dns" {
  description = "Service account of external-dns."
  type = object({
    namespace       = optional(string, "external-dns")
    service_account = optional(string, "external-dns")
  })
  default = {}
}
