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

# The public entry: a host inside a Route53 public hosted zone of yours (the
# zone's id, not its name). The certificate is validated there and
# external-dns writes the host's record there.
public_host     = "chat.staging.example.com"
route53_zone_id = "Z0123456789EXAMPLEZONE"

extra_tags = {
  Owner = "platform"
}
