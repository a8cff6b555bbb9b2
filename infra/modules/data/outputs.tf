output "table_name" {
  description = "The records table's name (the same in both regions)."
  value       = aws_dynamodb_table.records.name
}

output "regions" {
  description = "What the central module of each region reads and writes, keyed primary and dr."
  value = {
    primary = {
      region      = local.regions.primary
      table_name  = aws_dynamodb_table.records.name
      table_arn   = aws_dynamodb_table.records.arn
      bucket_name = module.bucket_primary.name
      bucket_arn  = module.bucket_primary.arn
      kms_key_arn = module.key_primary.arn

      reports_bucket_name = module.reports_primary.name
      reports_bucket_arn  = module.reports_primary.arn
    }
    dr = {
      region      = local.regions.dr
      table_name  = aws_dynamodb_table.records.name
      table_arn   = one([for replica in aws_dynamodb_table.records.replica : replica.arn if replica.region_name == local.regions.dr])
      bucket_name = module.bucket_dr.name
      bucket_arn  = module.bucket_dr.arn
      kms_key_arn = module.key_dr.arn

      reports_bucket_name = module.reports_dr.name
      reports_bucket_arn  = module.reports_dr.arn
    }
  }
}

output "replica_regions" {
  description = "The regions the records table is replicated to."
  value       = [for replica in aws_dynamodb_table.records.replica : replica.region_name]
}

output "replication" {
  description = "Where the primary policy bucket replicates to, and how."
  value = {
    source_bucket          = module.bucket_primary.name
    destination_bucket_arn = one(aws_s3_bucket_replication_configuration.primary_to_dr.rule).destination[0].bucket
    delete_markers         = one(aws_s3_bucket_replication_configuration.primary_to_dr.rule).delete_marker_replication[0].status
    time_control           = one(aws_s3_bucket_replication_configuration.primary_to_dr.rule).destination[0].replication_time[0].status
  }
}

output "reports_replication" {
  description = "Where the primary reports bucket replicates to, and which prefix."
  value = {
    source_bucket          = module.reports_primary.name
    destination_bucket_arn = one(aws_s3_bucket_replication_configuration.reports_primary_to_dr.rule).destination[0].bucket
    prefix                 = one(one(aws_s3_bucket_replication_configuration.reports_primary_to_dr.rule).filter).prefix
  }
}

output "reports_buckets" {
  description = "Each region's reports bucket: encryption, public access block and lifecycle, for the tests and the review."
  value = {
    for role, bucket in { primary = module.reports_primary, dr = module.reports_dr } : role => {
      name                        = bucket.name
      versioning_status           = bucket.versioning_status
      sse_algorithm               = bucket.sse_algorithm
      kms_key_arn                 = bucket.kms_key_arn
      public_access_block         = bucket.public_access_block
      expiration_days             = bucket.expiration_days
      policy                      = bucket.policy
    }
  }
}
