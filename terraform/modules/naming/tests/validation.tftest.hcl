# Inputs outside the allowed sets are refused at plan time.

variables {
  environment = "staging"
  region      = "eu-west-1"
  account_id  = "123456789012"
}

run "environment_must_be_known" {
  command = plan

  variables {
    environment = "production"
  }

  expect_failures = [var.environment]
}

run "project_must_be_lowercase" {
  command = plan

  variables {
    project = "Harmony"
  }

  expect_failures = [var.project]
}

run "project_must_not_end_with_dash" {
  command = plan

  variables {
    project = "harmony-"
  }

  expect_failures = [var.project]
}

run "project_must_be_short" {
  command = plan

  variables {
    project = "harmony-platform"
  }

  expect_failures = [var.project]
}

run "region_must_look_like_a_region" {
  command = plan

  variables {
    region = "europe-west1"
  }

  expect_failures = [var.region]
}

run "region_must_not_be_an_availability_zone" {
  command = plan

  variables {
    region = "eu-west-1a"
  }

  expect_failures = [var.region]
}

run "account_id_must_have_12_digits" {
  command = plan

  variables {
    account_id = "12345"
  }

  expect_failures = [var.account_id]
}

run "extra_tags_must_not_override_module_tags" {
  command = plan

  variables {
    extra_tags = { Environment = "prod" }
  }

  expect_failures = [var.extra_tags]
}

run "extra_tags_must_not_use_aws_prefix" {
  command = plan

  variables {
    extra_tags = { "aws:cloudformation:stack-name" = "x" }
  }

  expect_failures = [var.extra_tags]
}
