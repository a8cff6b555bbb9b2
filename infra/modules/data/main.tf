# Moat's state, in both regions: the records table (backups, audit, publish
# claims) as a DynamoDB global table, the policy bucket in each region,
# replicated primary -> DR, and the reports bucket in each region, whose
# daily compliance reports are replicated primary -> DR. Everything is
# encrypted with a customer managed key per region. Every resource names
# its provider: this module spans two regions and a missing `provider` would
# silently land in the default one.

data "aws_caller_identity" "current" {
  provider = aws.primary
}

data "aws_partition" "current" {
  provider = aws.primary
}

data "aws_region" "primary" {
  provider = aws.primary
}

data "aws_region" "dr" {
  provider = aws.dr
}

locals {
  stack      = jsondecode(file("${path.module}/../../stack.json"))
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  regions = {
    primary = data.aws_region.primary.name
    dr      = data.aws_region.dr.name
  }
  bucket_names = {
    for role, region in local.regions :
    role => replace(replace(local.stack.policyBucket, "{account}", local.account_id), "{region}", region)
  }
  reports_bucket_names = {
    for role, region in local.regions :
    role => replace(replace(local.stack.reportsBucket, "{account}", local.account_id), "{region}", region)
  }
  # What the replication role reads from (primary) and writes to (DR).
  source_buckets      = [module.bucket_primary.arn, module.reports_primary.arn]
  destination_buckets = [module.bucket_dr.arn, module.reports_dr.arn]
}

module "key_primary" {
  source      = "../kms-key"
  providers   = { aws = aws.primary }
  description = "Moat records, policies and reports in ${local.regions.primary}"
}

module "key_dr" {
  source      = "../kms-key"
  providers   = { aws = aws.dr }
  description = "Moat records, policies and reports in ${local.regions.dr}"
}

resource "aws_dynamodb_table" "records" {
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

  # Global tables replicate through the stream and need both images.
  stream_enabled   = true
  stream_view_type = "NEW_AND_OLD_IMAGES"

  # Backups are what `undo` restores groups from: losing the table loses
  # the way back, so it can be neither deleted by accident nor lost to a bad
  # write older than 35 days' worth of recovery points.
  deletion_protection_enabled = true

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = module.key_primary.arn
  }

  replica {
    region_name            = local.regions.dr
    kms_key_arn            = module.key_dr.arn
    point_in_time_recovery = true
    propagate_tags         = true
  }

}

module "bucket_primary" {
  source                  = "../policy-bucket"
  providers               = { aws = aws.primary }
  name                    = local.bucket_names.primary
  kms_key_arn             = module.key_primary.arn
  noncurrent_version_days = var.noncurrent_version_days
}

module "bucket_dr" {
  source                  = "../policy-bucket"
  providers               = { aws = aws.dr }
  name                    = local.bucket_names.dr
  kms_key_arn             = module.key_dr.arn
  noncurrent_version_days = var.noncurrent_version_days
}

# The reports buckets live here rather than in the central module because
# they are state that must outlive a region: the report function reads the
# days before today for its trend, so the DR region needs the primary's
# reports after a failover. Only `reports/` is replicated: a sweep's files
# are the working data of one run in one region.
module "reports_primary" {
  source                  = "../reports-bucket"
  providers               = { aws = aws.primary }
  name                    = local.reports_bucket_names.primary
  kms_key_arn             = module.key_primary.arn
  sweep_days              = var.sweep_retention_days
  report_days             = var.report_retention_days
  noncurrent_version_days = var.reports_noncurrent_version_days
}

module "reports_dr" {
  source                  = "../reports-bucket"
  providers               = { aws = aws.dr }
  name                    = local.reports_bucket_names.dr
  kms_key_arn             = module.key_dr.arn
  sweep_days              = var.sweep_retention_days
  report_days             = var.report_retention_days
  noncurrent_version_days = var.reports_noncurrent_version_days
}

# Replication primary -> DR, of both buckets, with S3's own role. It may read what it copies
# from the primary bucket and write replicas to the DR bucket, and use each
# key only through S3 for that bucket (with a bucket key, S3's encryption
# context is the bucket's ARN; without, the object's).
# Which region acts: the primary, at epoch 1 (the item and its encoding are
# moat_aws::records' `ACTIVE_REGION`/`RECORD`, a moat_domain::fencing
# ActiveRegion as JSON). Without it every region would act, as a
# one-region deployment does, and both regions would fix every change.
# `cargo xtask failover` raises the epoch, so later applies leave it alone.
resource "aws_dynamodb_table_item" "active_region" {
  provider = aws.primary

  table_name = aws_dynamodb_table.records.name
  hash_key   = aws_dynamodb_table.records.hash_key
  range_key  = aws_dynamodb_table.records.range_key
  item = jsonencode({
    pk    = { S = "ACTIVE_REGION" }
    sk    = { S = "RECORD" }
    epoch = { N = "1" }
    record = { S = jsonencode({
      region = data.aws_region.primary.name
      epoch  = 1
      since  = plantimestamp()
      by     = "terraform"
    }) }
  })

  lifecycle {
    ignore_changes = [item]
  }
}

resource "aws_iam_role" "replication" {
  provider = aws.primary

  # IAM names are global, so the name carries the source bucket's name.
  # One role replicates both buckets: it is S3's, and what it may touch is
  # the same kind of thing (a source and a destination bucket, each key
  # through S3 only).
  name = local.stack.policyReplicationRole
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "s3.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account_id }
        ArnLike      = { "aws:SourceArn" = local.source_buckets }
      }
    }]
  })
}

resource "aws_iam_role_policy" "replication" {
  provider = aws.primary

  name = "replicate-policies"
  role = aws_iam_role.replication.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ReadReplicationConfiguration"
        Effect   = "Allow"
        Action   = ["s3:GetReplicationConfiguration", "s3:ListBucket"]
        Resource = local.source_buckets
      },
      {
        Sid      = "ReadSourceVersions"
        Effect   = "Allow"
        Action   = ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"]
        Resource = ["${module.bucket_primary.arn}/*", "${module.reports_primary.arn}/reports/*"]
      },
      {
        Sid      = "WriteReplicas"
        Effect   = "Allow"
        Action   = ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"]
        Resource = ["${module.bucket_dr.arn}/*", "${module.reports_dr.arn}/reports/*"]
      },
      {
        Sid      = "DecryptSource"
        Effect   = "Allow"
        Action   = ["kms:Decrypt"]
        Resource = module.key_primary.arn
        Condition = {
          StringEquals = { "kms:ViaService" = "s3.${local.regions.primary}.amazonaws.com" }
          StringLike   = { "kms:EncryptionContext:aws:s3:arn" = flatten([for arn in local.source_buckets : [arn, "${arn}/*"]]) }
        }
      },
      {
        Sid      = "EncryptReplicas"
        Effect   = "Allow"
        Action   = ["kms:Encrypt", "kms:GenerateDataKey"]
        Resource = module.key_dr.arn
        Condition = {
          StringEquals = { "kms:ViaService" = "s3.${local.regions.dr}.amazonaws.com" }
          StringLike   = { "kms:EncryptionContext:aws:s3:arn" = flatten([for arn in local.destination_buckets : [arn, "${arn}/*"]]) }
        }
      },
    ]
  })
}

resource "aws_s3_bucket_replication_configuration" "primary_to_dr" {
  provider = aws.primary

  bucket = module.bucket_primary.name
  role   = aws_iam_role.replication.arn

  rule {
    id     = "policies-to-dr"
    status = "Enabled"

    # An empty filter selects every object and is what makes delete-marker
    # replication available (it needs the V2 rule schema).
    filter {}

    delete_marker_replication {
      status = "Enabled"
    }

    source_selection_criteria {
      sse_kms_encrypted_objects {
        status = "Enabled"
      }
    }

    destination {
      bucket        = module.bucket_dr.arn
      storage_class = "STANDARD"

      encryption_configuration {
        replica_kms_key_id = module.key_dr.arn
      }

      # Replication Time Control: 99.99 % of objects within 15 minutes, with
      # metrics, so a failover knows the DR policy is current.
      replication_time {
        status = "Enabled"
        time {
          minutes = 15
        }
      }

      metrics {
        status = "Enabled"
        event_threshold {
          minutes = 15
        }
      }
    }
  }

  # S3 refuses replication until both buckets are versioned.
  depends_on = [module.bucket_primary, module.bucket_dr]
}

# The daily compliance reports, primary -> DR, so the DR region's report
# continues the primary's trend after a failover. No Replication Time
# Control: a report that arrives within hours is in time, and RTC is billed
# per gigabyte.
resource "aws_s3_bucket_replication_configuration" "reports_primary_to_dr" {
  provider = aws.primary

  bucket = module.reports_primary.name
  role   = aws_iam_role.replication.arn

  rule {
    id     = "reports-to-dr"
    status = "Enabled"

    filter {
      prefix = "reports/"
    }

    delete_marker_replication {
      status = "Enabled"
    }

    source_selection_criteria {
      sse_kms_encrypted_objects {
        status = "Enabled"
      }
    }

    destination {
      bucket        = module.reports_dr.arn
      storage_class = "STANDARD"

      encryption_configuration {
        replica_kms_key_id = module.key_dr.arn
      }
    }
  }

  # S3 refuses replication until both buckets are versioned.
  depends_on = [module.reports_primary, module.reports_dr]
}
