# Moat's Terraform applied for real, against the local stack only: the real
# central and member modules in both regions of infra/stack.json, every
# provider endpoint on 127.0.0.1 (a moto per region, and the local Step
# Functions endpoint of crates/sfn-local for `sfn`, which moto cannot
# validate definitions for; `stepfunctions` is the same endpoint's other
# name, and the provider takes only one of the two). tests/terraform_apply.rs copies infra/ to a
# temporary directory, writes stand-in zips there, applies this root, checks
# the resources through the SDK, runs one change through the state machine
# Terraform made, and destroys it all. The sweep's schedule is moto's
# EventBridge Scheduler, which stores schedules and never fires them, so no
# sweep runs here; the local Step Functions endpoint validates the sweep's
# definition when Terraform creates it.
#
# Two deliberate differences from examples/two-regions:
# - the data is a stand-in (below): moto has no global tables;
# - the member account is its own moto account, reached by assuming a role,
#   as a real member account would be (its names, such as the dead-letter
#   queue, are the central account's in the same region).

locals {
  stack          = jsondecode(file("${path.module}/../../stack.json"))
  primary_region = local.stack.regions.primary
  dr_region      = local.stack.regions.secondary
  manifest_path  = coalesce(var.manifest_path, "${path.module}/fixtures/manifest.json")
}

provider "aws" {
  alias  = "primary"
  region = local.primary_region

  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true
  max_retries                 = 1

  endpoints {
    cloudwatch = var.primary_endpoint
    dynamodb   = var.primary_endpoint
    events     = var.primary_endpoint
    iam        = var.primary_endpoint
    kms        = var.primary_endpoint
    lambda     = var.primary_endpoint
    logs       = var.primary_endpoint
    s3         = var.primary_endpoint
    sns        = var.primary_endpoint
    sqs        = var.primary_endpoint
    scheduler  = var.primary_endpoint
    ssm        = var.primary_endpoint
    sts        = var.primary_endpoint
    sfn        = var.primary_states_endpoint
  }
}

provider "aws" {
  alias  = "dr"
  region = local.dr_region

  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true
  max_retries                 = 1

  endpoints {
    cloudwatch = var.dr_endpoint
    dynamodb   = var.dr_endpoint
    events     = var.dr_endpoint
    iam        = var.dr_endpoint
    kms        = var.dr_endpoint
    lambda     = var.dr_endpoint
    logs       = var.dr_endpoint
    s3         = var.dr_endpoint
    sns        = var.dr_endpoint
    sqs        = var.dr_endpoint
    scheduler  = var.dr_endpoint
    ssm        = var.dr_endpoint
    sts        = var.dr_endpoint
    sfn        = var.dr_states_endpoint
  }
}

# The member account, in the primary region: moto gives the credentials of
# an assumed role in another account that account's resources.
provider "aws" {
  alias  = "member"
  region = local.primary_region

  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true
  max_retries                 = 1

  assume_role {
    role_arn     = "arn:aws:iam::${var.member_account_id}:role/moat-local-apply-member-admin"
    session_name = "moat-local-apply"
  }

  endpoints {
    events = var.primary_endpoint
    iam    = var.primary_endpoint
    sqs    = var.primary_endpoint
    sts    = var.primary_endpoint
  }
}

# A moto stand-in for modules/data, which moto cannot apply: its records
# table is a global table (a `replica` block), and moto has no replicas, so
# creating it never finishes. Here each region gets a plain table of the same
# name and keys, and its own key and policy bucket from the same building
# blocks the data module uses (modules/kms-key, modules/policy-bucket),
# making the same `regions` object the central module takes as `data`. The
# reports buckets are the data module's own building block
# (modules/reports-bucket). Not stood in: the bucket replications, and the
# table's deletion protection, which would keep `terraform destroy` from
# cleaning up.
data "aws_caller_identity" "central" {
  provider = aws.primary
}

module "key_primary" {
  source      = "../../modules/kms-key"
  providers   = { aws = aws.primary }
  description = "Moat records and policies in ${local.primary_region}"
}

module "key_dr" {
  source      = "../../modules/kms-key"
  providers   = { aws = aws.dr }
  description = "Moat records and policies in ${local.dr_region}"
}

module "bucket_primary" {
  source                  = "../../modules/policy-bucket"
  providers               = { aws = aws.primary }
  name                    = replace(replace(local.stack.policyBucket, "{account}", data.aws_caller_identity.central.account_id), "{region}", local.primary_region)
  kms_key_arn             = module.key_primary.arn
  noncurrent_version_days = 365
}

module "bucket_dr" {
  source                  = "../../modules/policy-bucket"
  providers               = { aws = aws.dr }
  name                    = replace(replace(local.stack.policyBucket, "{account}", data.aws_caller_identity.central.account_id), "{region}", local.dr_region)
  kms_key_arn             = module.key_dr.arn
  noncurrent_version_days = 365
}

module "reports_primary" {
  source                  = "../../modules/reports-bucket"
  providers               = { aws = aws.primary }
  name                    = replace(replace(local.stack.reportsBucket, "{account}", data.aws_caller_identity.central.account_id), "{region}", local.primary_region)
  kms_key_arn             = module.key_primary.arn
  sweep_days              = 90
  report_days             = 365
  noncurrent_version_days = 30
}

module "reports_dr" {
  source                  = "../../modules/reports-bucket"
  providers               = { aws = aws.dr }
  name                    = replace(replace(local.stack.reportsBucket, "{account}", data.aws_caller_identity.central.account_id), "{region}", local.dr_region)
  kms_key_arn             = module.key_dr.arn
  sweep_days              = 90
  report_days             = 365
  noncurrent_version_days = 30
}

resource "aws_dynamodb_table" "records_primary" {
  provider = aws.primary

  name         = local.stack.recordsTable
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  range_key    = "sk"

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = module.key_primary.arn
  }
}

resource "aws_dynamodb_table" "records_dr" {
  provider = aws.dr

  name         = local.stack.recordsTable
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  range_key    = "sk"

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = module.key_dr.arn
  }
}

locals {
  # The shape of modules/data's `regions` output.
  data = {
    primary = {
      region      = local.primary_region
      table_name  = aws_dynamodb_table.records_primary.name
      table_arn   = aws_dynamodb_table.records_primary.arn
      bucket_name = module.bucket_primary.name
      bucket_arn  = module.bucket_primary.arn
      kms_key_arn = module.key_primary.arn

      reports_bucket_name = module.reports_primary.name
      reports_bucket_arn  = module.reports_primary.arn
    }
    dr = {
      region      = local.dr_region
      table_name  = aws_dynamodb_table.records_dr.name
      table_arn   = aws_dynamodb_table.records_dr.arn
      bucket_name = module.bucket_dr.name
      bucket_arn  = module.bucket_dr.arn
      kms_key_arn = module.key_dr.arn

      reports_bucket_name = module.reports_dr.name
      reports_bucket_arn  = module.reports_dr.arn
    }
  }
}

module "central_primary" {
  source    = "../../modules/central"
  providers = { aws = aws.primary }

  region_role            = "active"
  data                   = local.data.primary
  manifest_path          = local.manifest_path
  artifacts_root         = var.artifacts_root
  external_id            = var.external_id
  member_account_ids     = [var.member_account_id]
  sweep_schedule_enabled = true
}

module "central_dr" {
  source    = "../../modules/central"
  providers = { aws = aws.dr }

  region_role            = "passive"
  data                   = local.data.dr
  manifest_path          = local.manifest_path
  artifacts_root         = var.artifacts_root
  external_id            = var.external_id
  member_account_ids     = [var.member_account_id]
  sweep_schedule_enabled = false
}

module "member" {
  source    = "../../modules/member"
  providers = { aws = aws.member }

  central_event_bus_arns = {
    primary = module.central_primary.event_bus_arn
    dr      = module.central_dr.event_bus_arn
  }
  trusted_role_arns = concat(module.central_primary.member_access_role_arns, module.central_dr.member_access_role_arns)
  external_id       = var.external_id
}
