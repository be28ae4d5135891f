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

variable "kubernetes_version" {
  description = "Kubernetes minor version of the control plane and the system node group."
  type        = string
  default     = "1.33"

  validation {
    condition     = can(regex("^1\\.[0-9]{2}$", var.kubernetes_version))
    error_message = "kubernetes_version must be a minor version such as 1.33."
  }
}

variable "subnet_ids" {
  description = "Private subnets for the control plane's network interfaces and the system nodes (one per zone)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "EKS needs subnets in at least two availability zones."
  }
}

variable "endpoint_public_access" {
  description = "Also expose the API server endpoint publicly (restricted to public_access_cidrs). The private endpoint is always on."
  type        = bool
  default     = false
}

variable "public_access_cidrs" {
  description = "CIDRs allowed to reach the public API endpoint when it is enabled (office, VPN, CI egress)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.public_access_cidrs : can(cidrhost(c, 0)) && !endswith(c, "/0")])
    error_message = "public_access_cidrs must be valid CIDRs and may not open the endpoint to the whole internet (/0)."
  }
}

variable "deletion_protection" {
  description = "Refuse to delete the cluster until this is switched off."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "Days control-plane logs are kept in CloudWatch Logs."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs accepts."
  }
}

variable "admin_principal_arns" {
  description = "IAM roles or users granted cluster-admin through access entries (e.g. the platform team's SSO role, the CI deploy role)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.admin_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$", a))])
    error_message = "admin_principal_arns must be IAM role or user ARNs."
  }
}

variable "system_node_group" {
  description = "The small managed node group for cluster-critical pods (CoreDNS, Karpenter). Tainted CriticalAddonsOnly; everything else runs on Karpenter nodes."
  type = object({
    instance_types = optional(list(string), ["m7i.large"])
    ami_type       = optional(string, "AL2023_x86_64_STANDARD")
    min_size       = optional(number, 2)
    max_size       = optional(number, 3)
    desired_size   = optional(number, 2)
    disk_size_gib  = optional(number, 50)
  })
  default = {}

  validation {
    condition     = contains(["AL2023_x86_64_STANDARD", "AL2023_ARM_64_STANDARD", "BOTTLEROCKET_x86_64", "BOTTLEROCKET_ARM_64"], var.system_node_group.ami_type)
    error_message = "system_node_group.ami_type must be an AL2023 or Bottlerocket AMI type."
  }

  validation {
    condition = (
      var.system_node_group.min_size >= 1 &&
      var.system_node_group.min_size <= var.system_node_group.desired_size &&
      var.system_node_group.desired_size <= var.system_node_group.max_size
    )
    error_message = "system_node_group sizes must satisfy 1 <= min_size <= desired_size <= max_size."
  }
}

variable "karpenter" {
  description = "Where the Karpenter controller runs (its Helm release is installed by GitOps, not here)."
  type = object({
    namespace       = optional(string, "kube-system")
    service_account = optional(string, "karpenter")
  })
  default = {}
}
