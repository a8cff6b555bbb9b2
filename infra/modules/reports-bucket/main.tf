# One region's reports bucket: what a sweep writes (its inventory, the
# Distributed Map's results, the results and summary) under `sweeps/`, and
# the daily compliance reports under `reports/`. Versioned, encrypted with
# the region's key, private, reachable over TLS only, and emptied by
# lifecycle: a sweep's files are working data for a few months, a report is
# kept for a year. Replication is the caller's business, as for the policy
# bucket: only the data module knows which bucket is the source.

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_144:The data module replicates the primary bucket's reports/ to the DR bucket (aws_s3_bucket_replication_configuration.reports_primary_to_dr); checkov does not see a replication configured outside the bucket's module, and the DR bucket is the destination.
  #checkov:skip=CKV_AWS_18:Only Moat's own roles write and read the bucket (the inventory and report functions, the sweep state machine); object-level access is audited with CloudTrail S3 data events (infra/README.md, prerequisites), and server access logs would need a log bucket Moat does not own.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to new objects: the sweep state machine passes each key to the next step itself, so event notifications would have no consumer.
  bucket = var.name
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    # One data key per bucket instead of one KMS call per object: a sweep
    # writes a result file per batch of groups.
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    id     = "expire-sweeps"
    status = "Enabled"
    filter {
      prefix = "sweeps/"
    }
    expiration {
      days = var.sweep_days
    }
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
  }

  rule {
    id     = "expire-reports"
    status = "Enabled"
    filter {
      prefix = "reports/"
    }
    expiration {
      days = var.report_days
    }
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
  }

  # The Distributed Map writes its results in multipart uploads; one that a
  # failed run left open would otherwise be stored, and billed, forever. An
  # expired object leaves a delete marker, which goes once it is alone.
  rule {
    id     = "clean-up"
    status = "Enabled"
    filter {}
    expiration {
      expired_object_delete_marker = true
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  # Lifecycle rules need versioning to be on to mean what they say.
  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      # A Deny, so the wildcard takes away rather than grants: no request
      # of any kind reaches the bucket without TLS.
      Sid       = "DenyPlainHttp"
      Effect    = "Deny"
      Principal = { AWS = "*" }
      Action    = "s3:*"
      Resource  = [aws_s3_bucket.this.arn, "${aws_s3_bucket.this.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })

  # S3 refuses a bucket policy while the public access block is being set.
  depends_on = [aws_s3_bucket_public_access_block.this]
}
