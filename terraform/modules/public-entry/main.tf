# The environment's one public entry, AWS side: the TLS certificate of its
# host and the roles of the two controllers that build the rest from the
# Ingress `harmony` (helmfile installs them): the AWS Load Balancer
# Controller (the ALB, its listeners and target groups) and external-dns
# (the host's record in the zone).

data "aws_route53_zone" "this" {
  zone_id = var.zone_id
}

locals {
  zone_name = trimsuffix(data.aws_route53_zone.this.name, ".")
  zone_arn  = "arn:${var.naming.partition}:route53:::hostedzone/${var.zone_id}"
}

resource "aws_acm_certificate" "this" {
  domain_name       = var.public_host
  validation_method = "DNS"

  options {
    certificate_transparency_logging_preference = "ENABLED"
  }

  tags = { Name = "${var.naming.name_prefix}-public" }

  lifecycle {
    # The listener keeps the old certificate until the new one exists.
    create_before_destroy = true

    precondition {
      condition     = !data.aws_route53_zone.this.private_zone
      error_message = "zone_id must be a public hosted zone: ACM validates through public DNS."
    }

    precondition {
      condition     = var.public_host == local.zone_name || endswith(var.public_host, ".${local.zone_name}")
      error_message = "public_host must be inside the hosted zone zone_id."
    }
  }
}

resource "aws_route53_record" "validation" {
  for_each = {
    for o in aws_acm_certificate.this.domain_validation_options : o.domain_name => o
  }

  zone_id = var.zone_id
  name    = each.value.resource_record_name
  type    = each.value.resource_record_type
  records = [each.value.resource_record_value]
  ttl     = 300

  # The record is the same for every certificate of this name (a replaced
  # certificate reuses it).
  allow_overwrite = true
}

# Waits until ACM has issued the certificate, so its ARN reaches the
# Ingress (through the cluster Secret) only once a listener can use it.
resource "aws_acm_certificate_validation" "this" {
  certificate_arn         = aws_acm_certificate.this.arn
  validation_record_fqdns = [for r in aws_route53_record.validation : r.fqdn]
}

# --- external-dns ---------------------------------------------------------------

# The policy external-dns documents for Route53, narrowed to the one zone,
# the record types an ALB's Ingress needs (alias A/AAAA and the TXT
# ownership records beside them) and the names of the public host: the
# record itself and its TXT registry records, which external-dns names
# <type>-<host> (or <host>, in its old format) with an optional prefix.
module "external_dns_role" {
  source = "../pod-identity-role"

  naming          = var.naming
  name            = "external-dns"
  description     = "external-dns of ${var.cluster_name}: records of ${var.public_host} in zone ${var.zone_id} only."
  cluster_name    = var.cluster_name
  namespace       = var.external_dns.namespace
  service_account = var.external_dns.service_account

  policy_json = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ChangePublicHostRecords"
        Effect   = "Allow"
        Action   = "route53:ChangeResourceRecordSets"
        Resource = local.zone_arn
        Condition = {
          "ForAllValues:StringEquals" = {
            "route53:ChangeResourceRecordSetsRecordTypes" = ["A", "AAAA", "TXT"]
          }
          "ForAllValues:StringLike" = {
            "route53:ChangeResourceRecordSetsNormalizedRecordNames" = [var.public_host, "*-${var.public_host}"]
          }
        }
      },
      {
        Sid      = "ReadZone"
        Effect   = "Allow"
        Action   = ["route53:ListResourceRecordSets", "route53:ListTagsForResource", "route53:ListTagsForResources"]
        Resource = local.zone_arn
      },
      {
        # ListHostedZones has no resource to scope to.
        Sid      = "FindZone"
        Effect   = "Allow"
        Action   = "route53:ListHostedZones"
        Resource = "*"
      },
    ]
  })
}
