terraform {
  required_version = ">= 1.11"

  # No provider blocks here: the roots configure aws and kubernetes and the
  # child modules inherit them, so this module could be count/for_each'd.
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.25"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = ">= 2.38, < 3.0"
    }
  }
}
