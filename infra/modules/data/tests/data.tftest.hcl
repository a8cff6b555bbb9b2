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
}
