# Names, prefixes and tags computed for valid inputs. Plan only: the module
# has no providers, so these run offline.

variables {
  environment = "staging"
  region      = "eu-west-1"
  account_id  = "123456789012"
}

run "staging_names" {
  command = plan

  assert {
    condition     = output.name_prefix == "harmony-staging"
    error_message = "name_prefix must be <project>-<environment>"
  }

  assert {
    condition     = output.cluster_name == "harmony-staging"
    error_message = "cluster_name must equal the name prefix"
  }

  assert {
    condition     = output.ssm_prefix == "/harmony/staging"
    error_message = "ssm_prefix must be /<project>/<environment>"
  }

  assert {
    condition     = output.secrets_prefix == "harmony/staging"
    error_message = "secrets_prefix must be <project>/<environment>"
  }

  assert {
    condition     = output.region_short == "euw1"
    error_message = "eu-west-1 must shorten to euw1"
  }

  assert {
    condition     = output.partition == "aws"
    error_message = "eu-west-1 is in the aws partition"
  }

  assert {
    condition     = output.is_production == false
    error_message = "staging is not production"
  }

  assert {
    # MSK refuses SCRAM secrets not named AmazonMSK_*; GitOps reads this name
    # (gitops/environments/staging/platform-values.yaml).
    condition     = output.kafka_scram_secret_name == "AmazonMSK_harmony_staging"
    error_message = "MSK SCRAM secret name is wrong: ${output.kafka_scram_secret_name}"
  }

  assert {
    condition     = output.state_bucket_name == "harmony-tfstate-123456789012-euw1"
    error_message = "state bucket is per account and region, not per environment"
  }

  assert {
    condition = output.tags == {
      Project     = "harmony"
      Environment = "staging"
      ManagedBy   = "terraform"
    }
    error_message = "default tags are wrong"
  }
}

run "prod_with_extra_tags" {
  command = plan

  variables {
    environment = "prod"
    region      = "ap-southeast-2"
    extra_tags  = { Owner = "platform", CostCentre = "chat" }
  }

  assert {
    condition     = output.is_production
    error_message = "prod is production"
  }

  assert {
    condition     = output.region_short == "apse2"
    error_message = "ap-southeast-2 must shorten to apse2"
  }

  assert {
    condition     = output.tags["Owner"] == "platform" && output.tags["CostCentre"] == "chat" && output.tags["Environment"] == "prod"
    error_message = "extra tags must be merged with the module's tags"
  }

  assert {
    condition     = length(output.tags) == 5
    error_message = "tags must hold the three module tags plus the two extra ones"
  }
}

run "gov_region_and_custom_project" {
  command = plan

  variables {
    project     = "chat2"
    environment = "dev"
    region      = "us-gov-west-1"
  }

  assert {
    condition     = output.name_prefix == "chat2-dev"
    error_message = "name_prefix must follow the project variable"
  }

  assert {
    condition     = output.state_bucket_name == "chat2-tfstate-123456789012-usgovw1"
    error_message = "bucket names must follow the project and region"
  }

  assert {
    condition     = output.kafka_scram_secret_name == "AmazonMSK_chat2_dev"
    error_message = "the MSK SCRAM secret name must follow the project and environment"
  }

  assert {
    condition     = output.partition == "aws-us-gov"
    error_message = "GovCloud regions are in the aws-us-gov partition"
  }

  assert {
    condition     = output.region_short == "usgovw1"
    error_message = "us-gov-west-1 must shorten to usgovw1"
  }
}

run "china_partition" {
  command = plan

  variables {
    region = "cn-northwest-1"
  }

  assert {
    condition     = output.partition == "aws-cn" && output.region_short == "cnnw1"
    error_message = "cn-northwest-1 is in aws-cn and shortens to cnnw1"
  }
}

run "similar_regions_get_distinct_codes" {
  command = plan

  variables {
    region = "ap-south-2"
  }

  assert {
    condition     = output.region_short == "aps2"
    error_message = "ap-south-2 must shorten to aps2 (ap-southeast-2 is apse2)"
  }
}

run "longest_names_fit_aws_limits" {
  command = plan

  variables {
    project     = "abcdefghijkl"
    environment = "staging"
    region      = "ap-northeast-3"
  }

  assert {
    condition     = length(output.state_bucket_name) <= 63
    error_message = "S3 bucket names must stay within 63 characters"
  }

  assert {
    # MSK cluster names: "<prefix>-kafka" within 64 characters.
    condition     = length("${output.name_prefix}-kafka") <= 64
    error_message = "the name prefix leaves no room for the MSK cluster name"
  }

  assert {
    # Redis replication group ids: "<prefix>-redis" within 40 characters.
    condition     = length("${output.name_prefix}-redis") <= 40
    error_message = "the name prefix leaves no room for ElastiCache ids"
  }
}
