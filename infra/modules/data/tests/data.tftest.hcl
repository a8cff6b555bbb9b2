# The data module's invariants against a mocked AWS: the table is global
# with a replica in the DR region, the primary bucket replicates to the DR
# bucket, and everything is encrypted.

mock_provider "aws" {
  alias  = "primary"
  source = "../../tests/mocks"
}

mock_provider "aws" {
  alias  = "dr"
  source = "../../tests/mocks"
}

override_data {
  target = data.aws_region.dr
  values = { name = "us-west-2" }
}

# Distinct DR values, so the tests can tell the regions apart.
override_resource {
  target = module.key_dr.aws_kms_key.this
  values = { arn = "arn:aws:kms:us-west-2:111111111111:key/22222222-2222-2222-2222-222222222222" }
}

override_resource {
  target = module.bucket_dr.aws_s3_bucket.this
  values = { arn = "arn:aws:s3:::moat-policies-111111111111-us-west-2" }
}

override_resource {
  target = module.reports_primary.aws_s3_bucket.this
  values = { arn = "arn:aws:s3:::moat-reports-111111111111-us-east-1" }
}

override_resource {
  target = module.reports_dr.aws_s3_bucket.this
  values = { arn = "arn:aws:s3:::moat-reports-111111111111-us-west-2" }
}

run "data" {
  command = apply

  assert {
    condition = (
      aws_dynamodb_table.records.name == jsondecode(file("../../stack.json")).recordsTable
      && aws_dynamodb_table.records.billing_mode == "PAY_PER_REQUEST"
      && aws_dynamodb_table.records.hash_key == "pk" && aws_dynamodb_table.records.range_key == "sk"
      && aws_dynamodb_table.records.deletion_protection_enabled
      && aws_dynamodb_table.records.point_in_time_recovery[0].enabled
      && aws_dynamodb_table.records.stream_enabled && aws_dynamodb_table.records.stream_view_type == "NEW_AND_OLD_IMAGES"
    )
    error_message = "The records table must be stack.json's, on demand, protected, recoverable and streamed."
  }

  assert {
    condition = (
      aws_dynamodb_table.records.server_side_encryption[0].enabled
      && aws_dynamodb_table.records.server_side_encryption[0].kms_key_arn == module.key_primary.arn
      && one(aws_dynamodb_table.records.replica).kms_key_arn == module.key_dr.arn
      && one(aws_dynamodb_table.records.replica).point_in_time_recovery
    )
    error_message = "Table and replica must be encrypted with their region's customer managed key."
  }

  assert {
    condition = (
      jsondecode(aws_dynamodb_table_item.active_region.item).pk.S == "ACTIVE_REGION"
      && jsondecode(aws_dynamodb_table_item.active_region.item).epoch.N == "1"
      && jsondecode(jsondecode(aws_dynamodb_table_item.active_region.item).record.S).region == "us-east-1"
    )
    error_message = "The records table must start with the primary active at epoch 1, or both regions act."
  }

  assert {
    condition     = output.replica_regions == ["us-west-2"]
    error_message = "The records table must have exactly one replica, in the DR region."
  }

  assert {
    condition = (
      output.regions.primary.bucket_name == "moat-policies-111111111111-us-east-1"
      && output.regions.dr.bucket_name == "moat-policies-111111111111-us-west-2"
      && output.regions.dr.kms_key_arn == module.key_dr.arn
    )
    error_message = "Each region needs its own policy bucket, named by stack.json, and its own key."
  }

  assert {
    condition = (
      aws_s3_bucket_replication_configuration.primary_to_dr.bucket == module.bucket_primary.name
      && output.replication.destination_bucket_arn == module.bucket_dr.arn
      && output.replication.delete_markers == "Enabled"
      && output.replication.time_control == "Enabled"
      && one(aws_s3_bucket_replication_configuration.primary_to_dr.rule).destination[0].encryption_configuration[0].replica_kms_key_id == module.key_dr.arn
    )
    error_message = "The primary bucket must replicate to the DR bucket, delete markers and RTC included, re-encrypted with the DR key."
  }

  assert {
    condition     = module.bucket_primary.versioning_status == "Enabled" && module.bucket_primary.sse_algorithm == "aws:kms"
    error_message = "The policy bucket must be versioned and SSE-KMS encrypted."
  }

  assert {
    condition = alltrue(flatten([
      for document in [aws_iam_role_policy.replication.policy, aws_iam_role.replication.assume_role_policy, module.key_primary.policy] : [
        for statement in jsondecode(document).Statement : [
          for action in flatten([statement.Action]) : !strcontains(action, "*")
        ]
      ]
    ]))
    error_message = "A policy allows a wildcard action."
  }

  assert {
    condition = alltrue([
      for statement in jsondecode(module.bucket_primary.policy).Statement :
      statement.Effect == "Deny" if contains(flatten([statement.Action]), "s3:*")
    ])
    error_message = "The bucket policy may use s3:* only to deny (plain HTTP)."
  }

  # --- The reports buckets.

  assert {
    condition = (
      output.regions.primary.reports_bucket_name == "moat-reports-111111111111-us-east-1"
      && output.regions.dr.reports_bucket_name == "moat-reports-111111111111-us-west-2"
      && output.regions.primary.reports_bucket_arn == module.reports_primary.arn
      && output.regions.dr.reports_bucket_arn == module.reports_dr.arn
    )
    error_message = "Each region needs its own reports bucket, named by stack.json."
  }

  assert {
    condition = alltrue([
      for role, bucket in output.reports_buckets : bucket.versioning_status == "Enabled" && bucket.sse_algorithm == "aws:kms"
      && bucket.kms_key_arn == output.regions[role].kms_key_arn
    ])
    error_message = "The reports buckets must be versioned and encrypted with their region's data key."
  }

  assert {
    condition     = alltrue([for bucket in output.reports_buckets : alltrue(values(bucket.public_access_block))])
    error_message = "The reports buckets must block every kind of public access."
  }

  assert {
    condition     = alltrue([for bucket in output.reports_buckets : bucket.expiration_days == { "sweeps/" = 90, "reports/" = 365 }])
    error_message = "By default a sweep's files expire after 90 days and a report after a year."
  }

  assert {
    condition = alltrue(flatten([
      for bucket in output.reports_buckets : [
        for statement in jsondecode(bucket.policy).Statement :
        statement.Effect == "Deny" && statement.Condition.Bool["aws:SecureTransport"] == "false"
      ]
    ]))
    error_message = "The reports buckets' policies must deny plain HTTP, and grant nothing."
  }

  assert {
    condition = (
      output.reports_replication.source_bucket == module.reports_primary.name
      && output.reports_replication.destination_bucket_arn == module.reports_dr.arn
      && output.reports_replication.prefix == "reports/"
      && one(aws_s3_bucket_replication_configuration.reports_primary_to_dr.rule).destination[0].encryption_configuration[0].replica_kms_key_id == module.key_dr.arn
    )
    error_message = "The primary reports bucket must replicate reports/ (not sweeps/) to the DR bucket, re-encrypted with the DR key."
  }
}

run "retention_from_variables" {
  command = plan

  variables {
    sweep_retention_days  = 7
    report_retention_days = 30
  }

  assert {
    condition     = module.reports_primary.expiration_days == { "sweeps/" = 7, "reports/" = 30 }
    error_message = "The retention of sweeps and reports must come from the variables."
  }
}
