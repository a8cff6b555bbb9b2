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
    }
    dr = {
      region      = local.regions.dr
      table_name  = aws_dynamodb_table.records.name
      table_arn   = one([for replica in aws_dynamodb_table.records.replica : replica.arn if replica.region_name == local.regions.dr])
      bucket_name = module.bucket_dr.name
      bucket_arn  = module.bucket_dr.arn
      kms_key_arn = module.key_dr.arn
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
