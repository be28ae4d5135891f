terraform {
  # 1.11: ephemeral resources and write-only arguments keep the Postgres and
  # MSK passwords out of state; 1.10: S3-native state locking.
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 6.x: per-resource region, string at_rest_encryption_enabled, EKS
      # deletion protection. scripts/check-terraform.sh checks argument
      # names against the 6.25 schema, hence the floor.
      version = "~> 6.25"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.7" # 3.7: ephemeral random_password.
    }
    kubernetes = {
      source = "hashicorp/kubernetes"
      # Argo CD's cluster Secret (modules/gitops-bridge); checked against
      # the 2.38 schema, and 3.x would be a major upgrade to review.
      version = "~> 2.38"
    }
  }
}
