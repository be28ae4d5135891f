locals {
  name_prefix = "${var.project}-${var.environment}"

  # Compact region code for names with tight limits: eu-west-1 -> euw1,
  # ap-southeast-2 -> apse2 (distinct from ap-south-2 -> aps2),
  # us-gov-west-1 -> usgovw1.
  directions = {
    north     = "n"
    south     = "s"
    east      = "e"
    west      = "w"
    central   = "c"
    northeast = "ne"
    northwest = "nw"
    southeast = "se"
    southwest = "sw"
  }
  region_short = join("", [
    for part in split("-", var.region) : lookup(local.directions, part, part)
  ])

  # ARN partition, so policies stay correct outside the commercial partition.
  partition = (
    startswith(var.region, "cn-") ? "aws-cn" :
    strcontains(var.region, "-gov-") ? "aws-us-gov" :
    strcontains(var.region, "-isob-") ? "aws-iso-b" :
    strcontains(var.region, "-iso-") ? "aws-iso" : "aws"
  )

  tags = merge(var.extra_tags, {
    Project     = var.project
    Environment = var.environment
    ManagedBy   = "terraform"
  })

  # S3 names are global across all accounts: account id and region make them
  # unique without a random suffix, so they stay predictable.
  bucket_suffix = "${var.account_id}-${local.region_short}"
}
