terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.25"
    }
  }

  # Local state on purpose: this root creates the bucket the others keep
  # their state in. After the first apply, move its state into that bucket
  # (terraform/README.md, "Bootstrap").
}
