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

variable "cidr_block" {
  description = "IPv4 CIDR of the VPC. A /16 gives three /18 private subnets (pods take VPC addresses with the VPC CNI) and three /20 public ones."
  type        = string
  default     = "10.0.0.0/16"

  validation {
    condition     = can(cidrhost(var.cidr_block, 0)) && tonumber(split("/", var.cidr_block)[1]) >= 16 && tonumber(split("/", var.cidr_block)[1]) <= 18
    error_message = "cidr_block must be a valid IPv4 CIDR with a prefix length between /16 and /18."
  }
}

variable "availability_zones" {
  description = "The three availability zones to spread subnets over (names, e.g. eu-west-1a)."
  type        = list(string)

  validation {
    condition     = length(var.availability_zones) == 3 && length(distinct(var.availability_zones)) == 3
    error_message = "availability_zones must list three distinct zones."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway shared by all zones (cheaper, but egress fails with that zone) instead of one per zone."
  type        = bool
  default     = false
}

variable "flow_log_retention_days" {
  description = "Days VPC flow logs are kept in CloudWatch Logs."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_log_retention_days)
    error_message = "flow_log_retention_days must be a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, ..., 365, ..., 3653)."
  }
}
