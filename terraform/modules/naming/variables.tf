variable "project" {
  description = "Project name, the first part of every resource name."
  type        = string
  default     = "harmony"

  validation {
    # A DNS label short enough that "<project>-<environment>-<purpose>" fits
    # the tightest AWS name limits (ElastiCache ids: 40, IAM name prefixes: 38).
    condition     = can(regex("^[a-z][a-z0-9-]{0,10}[a-z0-9]$", var.project))
    error_message = "project must be a lowercase DNS label of 2-12 characters (a-z, 0-9, '-'), starting with a letter and not ending with '-'."
  }
}

variable "environment" {
  description = "Deployment environment."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of dev, staging, prod."
  }
}

variable "region" {
  description = "AWS region the environment runs in, e.g. eu-west-1."
  type        = string

  validation {
    # Commercial, GovCloud and ISO partitions: <area>[-gov|-iso*]-<direction>-<n>.
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]?)?-(north|south|east|west|central|northeast|northwest|southeast|southwest)-[1-9]$", var.region))
    error_message = "region must look like an AWS region name, e.g. eu-west-1 or us-gov-west-1."
  }
}

variable "account_id" {
  description = "AWS account id the environment lives in; part of globally unique names (S3 buckets)."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be exactly 12 digits."
  }
}

variable "extra_tags" {
  description = "Additional tags for every resource (owner, cost centre, ...). May not override the tags this module sets."
  type        = map(string)
  default     = {}

  validation {
    condition = alltrue([
      for k, v in var.extra_tags :
      length(k) >= 1 && length(k) <= 128 && length(v) <= 256 && !startswith(lower(k), "aws:")
    ])
    error_message = "extra_tags keys must be 1-128 characters and not start with 'aws:'; values at most 256 characters."
  }

  validation {
    # These drive cost allocation and the external-secrets lookups; an
    # override would silently break both.
    condition     = length(setintersection(keys(var.extra_tags), ["Project", "Environment", "ManagedBy"])) == 0
    error_message = "extra_tags may not set Project, Environment or ManagedBy; the naming module owns them."
  }
}
