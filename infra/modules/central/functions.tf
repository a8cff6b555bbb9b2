# The functions, each with its own role. A role's permissions follow the
# settings its function reads (stack.json): a function that is given the
# table may use the table, one given a topic may publish to it, one given
# the member role name may assume it. Nothing else.

locals {
  reads = { for f, function in local.functions : f => toset(values(function.environment)) }

  # What a function does with the table beyond reading and writing single
  # items, by the need that calls for it. publish_once
  # (crates/moat-aws/src/publish.rs) claims, completes and releases a dedup
  # item, so publishers also update and delete items; a function that
  # builds a sweep's inventory (given the reports bucket and the member
  # role) reads every group's open findings with one Scan
  # (crates/moat-aws/src/records.rs, groups_with_open_findings).
  table_needs = {
    publishes = {
      actions = ["dynamodb:UpdateItem", "dynamodb:DeleteItem"]
      when    = { for f, settings in local.reads : f => length(setintersection(settings, ["notificationTopicArn", "escalationTopicArn"])) > 0 }
    }
    inventories = {
      actions = ["dynamodb:Scan"]
      when    = { for f, settings in local.reads : f => length(setsubtract(["reportsBucket", "memberRoleName"], settings)) == 0 }
    }
  }

  table_actions = {
    for f in keys(local.reads) : f => concat(
      ["dynamodb:GetItem", "dynamodb:PutItem"],
      flatten([for need in values(local.table_needs) : need.actions if need.when[f]]),
    )
  }

  # Statements by the setting that calls for them: a function gets those
  # of the settings it reads, and the `always` ones.
  grants = {
    for f in keys(local.functions) : f => {
      always = [
        {
          Sid      = "WriteOwnLogs"
          Effect   = "Allow"
          Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
          Resource = "${aws_cloudwatch_log_group.function[f].arn}:*"
        },
        {
          # X-Ray has no resource-level permissions for these.
          Sid      = "WriteTraces"
          Effect   = "Allow"
          Action   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
          Resource = "*"
        },
      ]
      recordsTable = [
        {
          Sid      = "UseRecords"
          Effect   = "Allow"
          Action   = local.table_actions[f]
          Resource = var.data.table_arn
        },
        {
          Sid      = "UseRecordsKey"
          Effect   = "Allow"
          Action   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
          Resource = var.data.kms_key_arn
          Condition = {
            StringEquals = { "kms:ViaService" = "dynamodb.${local.region}.amazonaws.com" }
          }
        },
      ]
      policyBucket = [
        {
          # Evaluate reads the policy, its ETag, and older versions when
          # the newest one is bad.
          Sid      = "ReadPolicy"
          Effect   = "Allow"
          Action   = ["s3:GetObject", "s3:GetObjectVersion"]
          Resource = "${var.data.bucket_arn}/${local.stack.policyKey}"
        },
        {
          Sid       = "ListPolicyVersions"
          Effect    = "Allow"
          Action    = ["s3:ListBucketVersions"]
          Resource  = var.data.bucket_arn
          Condition = { StringEquals = { "s3:prefix" = local.stack.policyKey } }
        },
        {
          Sid      = "DecryptPolicy"
          Effect   = "Allow"
          Action   = ["kms:Decrypt"]
          Resource = var.data.kms_key_arn
          Condition = {
            StringEquals = { "kms:ViaService" = "s3.${local.region}.amazonaws.com" }
          }
        },
      ]
      reportsBucket = [
        {
          # Sweep files and daily reports, the only prefixes the bucket has.
          Sid      = "ReadWriteReports"
          Effect   = "Allow"
          Action   = ["s3:GetObject", "s3:PutObject"]
          Resource = ["${var.data.reports_bucket_arn}/sweeps/*", "${var.data.reports_bucket_arn}/reports/*"]
        },
        {
          # The report function reads the reports of the days before today,
          # some of which do not exist. Only with ListBucket does S3 answer
          # a missing key with 404 (which the function takes for "no
          # report"), not 403. Not limited by s3:prefix: GetObject's check
          # of ListBucket carries no prefix, so a condition would fail it.
          Sid      = "TellMissingReports"
          Effect   = "Allow"
          Action   = ["s3:ListBucket"]
          Resource = var.data.reports_bucket_arn
        },
        {
          Sid      = "UseReportsKey"
          Effect   = "Allow"
          Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
          Resource = var.data.kms_key_arn
          Condition = {
            StringEquals = { "kms:ViaService" = "s3.${local.region}.amazonaws.com" }
            # With a bucket key, S3's encryption context is the bucket.
            StringLike = { "kms:EncryptionContext:aws:s3:arn" = [var.data.reports_bucket_arn, "${var.data.reports_bucket_arn}/*"] }
          }
        },
      ]
      notificationTopicArn = [
        {
          Sid      = "PublishNotifications"
          Effect   = "Allow"
          Action   = ["sns:Publish"]
          Resource = aws_sns_topic.notifications.arn
        },
        merge(local.publish_encrypted, { Sid = "EncryptNotifications" }),
      ]
      escalationTopicArn = [
        {
          Sid      = "PublishEscalations"
          Effect   = "Allow"
          Action   = ["sns:Publish"]
          Resource = aws_sns_topic.escalations.arn
        },
        merge(local.publish_encrypted, { Sid = "EncryptEscalations" }),
      ]
      memberRoleName = [
        {
          Sid      = "AssumeMemberRemediationRole"
          Effect   = "Allow"
          Action   = ["sts:AssumeRole"]
          Resource = local.member_role_arns
        },
      ]
    }
  }

  # Both topics are encrypted with the central key.
  publish_encrypted = {
    Effect   = "Allow"
    Action   = ["kms:GenerateDataKey", "kms:Decrypt"]
    Resource = module.key.arn
    Condition = {
      StringEquals = { "kms:ViaService" = "sns.${local.region}.amazonaws.com" }
    }
  }

  function_policies = {
    for f, settings in local.reads : f => {
      Version = "2012-10-17"
      Statement = flatten([
        for need, statements in local.grants[f] : statements if need == "always" || contains(settings, need)
      ])
    }
  }
}

resource "aws_cloudwatch_log_group" "function" {
  for_each = local.function_log_groups

  name              = each.value
  retention_in_days = var.log_retention_days
  kms_key_id        = module.key.arn
}

resource "aws_iam_role" "function" {
  for_each = local.function_roles

  # IAM is global: the name carries the region, so both regions coexist.
  name = each.value
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy" "function" {
  for_each = local.function_policies

  name   = "least-privilege"
  role   = aws_iam_role.function[each.key].id
  policy = jsonencode(each.value)
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:Step Functions invokes the functions synchronously and catches every failure into escalate and the state machine's dead-letter queue; a Lambda DLQ only receives failed asynchronous invocations, of which there are none.
  #checkov:skip=CKV_AWS_117:The functions call only AWS APIs (EC2, DynamoDB, S3, SNS, STS, Security Hub) over TLS; a VPC would add NAT or interface endpoints in every region without isolating anything.
  #checkov:skip=CKV_AWS_272:Code signing arrives with the CI/CD deployment (AWS Signer, DESIGN.md); the zips of `cargo xtask package` are unsigned today, and an enforcing code-signing config would refuse them.
  for_each = local.functions

  function_name = local.function_names[each.key]
  description   = "Moat ${each.key}"
  role          = aws_iam_role.function[each.key].arn
  runtime       = "provided.al2023"
  handler       = "bootstrap"
  architectures = [try(local.manifest.functions[each.key].architecture, "arm64")]

  filename = "${local.artifacts_root}/${local.manifest.functions[each.key].zip}"
  # The manifest's hash, not filebase64sha256: planning needs no zip on disk
  # and changes exactly when `cargo xtask package` built different code.
  source_code_hash = local.manifest.functions[each.key].sha256Base64
  publish          = true

  timeout                        = each.value.timeoutSeconds
  memory_size                    = each.value.memoryMb
  reserved_concurrent_executions = var.reserved_concurrency

  # Lambda decrypts the environment through a grant it creates for the
  # function's role, so the role itself needs no KMS permission for it.
  kms_key_arn = module.key.arn
  environment {
    # Exactly the variables the function reads, nothing more.
    variables = { for name, setting in each.value.environment : name => local.settings[setting] }
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.function[each.key].name
  }

  # The first invocation must find the role able to write its logs.
  depends_on = [aws_iam_role_policy.function]
}

# The state machines call the `live` alias, never $LATEST: a deployment
# moves the alias, so what runs is always a published version.
resource "aws_lambda_alias" "live" {
  for_each = aws_lambda_function.this

  name             = local.stack.functionAlias
  description      = "The version Moat's state machines run."
  function_name    = each.value.function_name
  function_version = each.value.version
}
