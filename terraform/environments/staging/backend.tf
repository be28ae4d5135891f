terraform {
  # Created by terraform/bootstrap. Locking uses an S3 lock object next to
  # the state (use_lockfile, Terraform >= 1.10): the DynamoDB lock table
  # (dynamodb_table) is deprecated and will be removed from the backend.
  # Backends cannot read variables: replace the example account id and
  # region with the values in terraform.tfvars.
  backend "s3" {
    bucket       = "harmony-tfstate-123456789012-euw1"
    key          = "harmony/staging/terraform.tfstate"
    region       = "eu-west-1"
    encrypt      = true
    kms_key_id   = "alias/harmony-tfstate"
    use_lockfile = true
  }
}
