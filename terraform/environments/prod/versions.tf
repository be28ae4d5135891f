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

# Provider configuration stays in the root: modules/environment and its
# children inherit it (a module with provider blocks could not be
# count/for_each'd).
provider "aws" {
  region              = var.region
  allowed_account_ids = [var.account_id]

  default_tags {
    tags = module.environment.tags
  }
}

# The environment's own cluster, for Argo CD's cluster Secret
# (modules/gitops-bridge). The token comes from the caller's AWS
# credentials at each run (`aws eks get-token`) and is never stored; the
# caller must be one of eks_admin_principal_arns (access entries).
provider "kubernetes" {
  host                   = module.environment.cluster_endpoint
  cluster_ca_certificate = base64decode(module.environment.cluster_certificate_authority_data)

  exec {
    api_version = "client.authentication.k8s.io/v1beta1"
    command     = "aws"
    args        = ["eks", "get-token", "--cluster-name", module.environment.cluster_name, "--region", var.region, "--output", "json"]
  }
}
