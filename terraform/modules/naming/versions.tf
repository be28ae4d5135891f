# Provider-free on purpose: this module only computes names and tags, so it can
# be initialised, validated and tested offline (scripts/check-terraform.sh).
terraform {
  required_version = ">= 1.9"
}
