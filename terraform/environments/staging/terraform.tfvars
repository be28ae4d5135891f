# Example values: nothing here is secret. Replace the account id (also in
# backend.tf) and the principals with your own.
region             = "eu-west-1"
account_id         = "123456789012"
availability_zones = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
vpc_cidr           = "10.20.0.0/16"
kubernetes_version = "1.33"

# Staging's API endpoint is reachable from the office/VPN range only.
eks_public_access_cidrs  = ["203.0.113.0/24"]
eks_admin_principal_arns = ["arn:aws:iam::123456789012:role/platform-admins"]

# The operator names service accounts <HarmonyChat name>-<component>; these
# fit a HarmonyChat named "harmony".
harmony_namespace = "harmony"
harmony_service_accounts = {
  api     = "harmony-api"
  sink    = "harmony-sink"
  cdc     = "harmony-cdc"
  migrate = "harmony-migrate"
}

extra_tags = {
  Owner = "platform"
}
