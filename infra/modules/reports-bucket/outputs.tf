output "name" {
  description = "The bucket's name."
  value       = aws_s3_bucket.this.bucket
}

output "arn" {
  description = "The bucket's ARN."
  value       = aws_s3_bucket.this.arn
}

output "versioning_status" {
  description = "Versioning status; replication needs it Enabled on both sides."
  value       = aws_s3_bucket_versioning.this.versioning_configuration[0].status
}

output "sse_algorithm" {
  description = "The default encryption of new objects."
  value       = one(aws_s3_bucket_server_side_encryption_configuration.this.rule).apply_server_side_encryption_by_default[0].sse_algorithm
}

output "kms_key_arn" {
  description = "The key of the default encryption."
  value       = one(aws_s3_bucket_server_side_encryption_configuration.this.rule).apply_server_side_encryption_by_default[0].kms_master_key_id
}

output "public_access_block" {
  description = "The bucket's public access block: every flag true."
  value = {
    block_public_acls       = aws_s3_bucket_public_access_block.this.block_public_acls
    block_public_policy     = aws_s3_bucket_public_access_block.this.block_public_policy
    ignore_public_acls      = aws_s3_bucket_public_access_block.this.ignore_public_acls
    restrict_public_buckets = aws_s3_bucket_public_access_block.this.restrict_public_buckets
  }
}

output "expiration_days" {
  description = "How many days objects are kept, by prefix."
  value = {
    for rule in aws_s3_bucket_lifecycle_configuration.this.rule :
    one(rule.filter).prefix => one(rule.expiration).days if startswith(rule.id, "expire-")
  }
}

output "policy" {
  description = "The bucket policy, as JSON."
  value       = aws_s3_bucket_policy.this.policy
}
