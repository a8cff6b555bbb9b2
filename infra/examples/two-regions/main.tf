# Moat's central security account in two regions: the shared data (global
# table, replicated policy and reports buckets) and the central stack in
# each region, the primary active and the DR region passive. Only the
# primary sweeps every day.

locals {
  stack          = jsondecode(file("${path.module}/../../stack.json"))
  primary_region = coalesce(var.primary_region, local.stack.regions.primary)
  dr_region      = coalesce(var.dr_region, local.stack.regions.secondary)
  manifest_path  = coalesce(var.manifest_path, "${path.module}/../../../target/lambda/manifest.json")

  # Each region's data as the data module made it, except a records table
  # that `cargo xtask restore records` restored and switched that region's
  # functions to: the central module then gives them its name (environment)
  # and its ARN (IAM), so an apply keeps them on it.
  data = {
    for side, region in { primary = local.primary_region, dr = local.dr_region } : side => merge(
      module.data.regions[side],
      contains(keys(var.records_table_overrides), region) ? {
        table_name = var.records_table_overrides[region]
        table_arn = replace(
          module.data.regions[side].table_arn,
          "table/${module.data.regions[side].table_name}",
          "table/${var.records_table_overrides[region]}",
        )
      } : {},
    )
  }
}

provider "aws" {
  alias  = "primary"
  region = local.primary_region
  default_tags {
    tags = var.tags
  }
}

provider "aws" {
  alias  = "dr"
  region = local.dr_region
  default_tags {
    tags = var.tags
  }
}

module "data" {
  source    = "../../modules/data"
  providers = { aws.primary = aws.primary, aws.dr = aws.dr }

  sweep_retention_days  = var.sweep_retention_days
  report_retention_days = var.report_retention_days
}

module "central_primary" {
  source    = "../../modules/central"
  providers = { aws = aws.primary }

  region_role                  = "active"
  data                         = local.data.primary
  manifest_path                = local.manifest_path
  external_id                  = var.external_id
  security_hub                 = var.security_hub
  member_organization_id       = var.member_organization_id
  member_account_ids           = var.member_account_ids
  event_archive_retention_days = var.event_archive_retention_days
  sweep_time_utc               = var.sweep_time_utc
  sweep_schedule_enabled       = true
}

module "central_dr" {
  source    = "../../modules/central"
  providers = { aws = aws.dr }

  region_role                  = "passive"
  data                         = local.data.dr
  manifest_path                = local.manifest_path
  external_id                  = var.external_id
  security_hub                 = var.security_hub
  member_organization_id       = var.member_organization_id
  member_account_ids           = var.member_account_ids
  event_archive_retention_days = var.event_archive_retention_days
  sweep_time_utc               = var.sweep_time_utc
  # The passive region does not sweep: it would remediate the same
  # accounts a second time. Moving the sweep with a failover comes with
  # the DR commands; until then, swap these two values to move it.
  sweep_schedule_enabled = false
}
