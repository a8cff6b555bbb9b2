# The two-region deployment against a mocked AWS: the central stack in both
# regions (primary active, DR passive), the records table replicated to the
# DR region, and the primary policy bucket replicated to the DR bucket.

mock_provider "aws" {
  alias  = "primary"
  source = "../../tests/mocks"
}

mock_provider "aws" {
  alias  = "dr"
  source = "../../tests/mocks"
}

# The mocks answer us-east-1; the DR provider's data sources answer us-west-2.
override_data {
  target = module.data.data.aws_region.dr
  values = { name = "us-west-2" }
}

override_data {
  target = module.central_dr.data.aws_region.current
  values = { name = "us-west-2" }
}

override_resource {
  target = module.data.module.bucket_dr.aws_s3_bucket.this
  values = { arn = "arn:aws:s3:::moat-policies-111111111111-us-west-2" }
}

override_resource {
  target = module.data.module.reports_dr.aws_s3_bucket.this
  values = { arn = "arn:aws:s3:::moat-reports-111111111111-us-west-2" }
}

override_resource {
  target = module.central_dr.aws_cloudwatch_event_bus.changes
  values = { arn = "arn:aws:events:us-west-2:111111111111:event-bus/moat-security-group-changes" }
}

variables {
  manifest_path          = "../../tests/fixtures/manifest.json"
  external_id            = "moat-test-external-id"
  member_organization_id = "o-abcd123456"
  member_account_ids     = ["222222222222", "333333333333"]
}

run "two_regions" {
  command = apply

  assert {
    condition = output.regions == {
      primary = { region = jsondecode(file("../../stack.json")).regions.primary, role = "active" }
      dr      = { region = jsondecode(file("../../stack.json")).regions.secondary, role = "passive" }
    }
    error_message = "The central stack must run in stack.json's two regions, the primary active and the DR region passive."
  }

  assert {
    condition     = output.replica_regions == [output.regions.dr.region]
    error_message = "The records table must be replicated to the DR region."
  }

  assert {
    condition = (
      output.policy_buckets.primary == "moat-policies-111111111111-${output.regions.primary.region}"
      && output.policy_buckets.dr == "moat-policies-111111111111-${output.regions.dr.region}"
      && output.policy_replication.source_bucket == output.policy_buckets.primary
      && output.policy_replication.destination_bucket_arn == "arn:aws:s3:::${output.policy_buckets.dr}"
      && output.policy_replication.delete_markers == "Enabled"
      && output.policy_replication.time_control == "Enabled"
    )
    error_message = "The primary policy bucket must replicate to the DR bucket."
  }

  assert {
    condition     = keys(output.event_bus_arns) == ["dr", "primary"] && output.event_bus_arns.primary != output.event_bus_arns.dr
    error_message = "Each region needs its own central bus for the member accounts."
  }

  assert {
    condition     = length(output.member_access_role_arns) == 2 * length([for f in values(jsondecode(file("../../stack.json")).functions) : f if contains(values(f.environment), "memberRoleName")])
    error_message = "Member accounts must trust the member-role functions of both regions."
  }

  assert {
    condition     = output.records_table == jsondecode(file("../../stack.json")).recordsTable
    error_message = "The records table is stack.json's."
  }

  assert {
    condition = (
      output.reports_buckets.primary == "moat-reports-111111111111-${output.regions.primary.region}"
      && output.reports_buckets.dr == "moat-reports-111111111111-${output.regions.dr.region}"
    )
    error_message = "Each region needs its own reports bucket."
  }

  assert {
    condition     = output.sweep_schedules.primary.state == "ENABLED" && output.sweep_schedules.dr.state == "DISABLED"
    error_message = "Only the primary region sweeps every day; the passive region would remediate the same accounts twice."
  }

  assert {
    condition = alltrue([
      for role, schedule in output.sweep_schedules :
      jsondecode(schedule.input).targets == [for id in ["222222222222", "333333333333"] : { account = id, region = output.regions[role].region }]
    ])
    error_message = "Each region's sweep must name every member account, in that region."
  }
}
