# One region of Moat's central security account: the functions, the
# remediation state machine, the sweep state machine and its daily
# schedule, the event bus member accounts send to, the topics, the
# dead-letter queue, alarms and a dashboard. Applied once per region with
# that region's provider; the primary is `active`, the DR region `passive`.
#
# Every name comes from infra/stack.json, every function's environment from
# its `environment` there, and the state machines from
# statemachines/remediation.asl.json and statemachines/sweep.asl.json:
# nothing here repeats them.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  stack_dir  = "${path.module}/../.."
  stack      = jsondecode(file("${local.stack_dir}/stack.json"))
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  manifest = jsondecode(file(var.manifest_path))
  # Zip paths in the manifest are relative to the workspace root. Kept
  # relative (path.module is), so a plan from another checkout is the same.
  artifacts_root = coalesce(var.artifacts_root, "${path.module}/../../..")

  functions      = local.stack.functions
  function_names = { for f in keys(local.functions) : f => replace(local.stack.functionName, "{function}", f) }
  function_roles = {
    for f in keys(local.functions) :
    f => replace(replace(local.stack.functionRole, "{function}", f), "{region}", local.region)
  }

  # The ARN of the remediation role in any member account: what detect
  # recognises as Moat's own changes, and what the functions may assume.
  member_role_arn_pattern = "arn:${local.partition}:iam::*:role/${local.stack.remediationRole}"
  member_role_arns = (
    length(var.member_account_ids) > 0
    ? [for id in var.member_account_ids : "arn:${local.partition}:iam::${id}:role/${local.stack.remediationRole}"]
    : [local.member_role_arn_pattern]
  )

  # The value of every setting a function's environment can name
  # (stack.json: functions.<f>.environment maps variable -> setting).
  settings = {
    recordsTable         = var.data.table_name
    policyBucket         = var.data.bucket_name
    policyKey            = local.stack.policyKey
    reportsBucket        = var.data.reports_bucket_name
    notificationTopicArn = aws_sns_topic.notifications.arn
    escalationTopicArn   = aws_sns_topic.escalations.arn
    selfRoleArns         = local.member_role_arn_pattern
    memberRoleName       = local.stack.remediationRole
    externalId           = var.external_id
    securityHub          = var.security_hub
  }

  # Known before anything exists, so the key policy can name them without a
  # dependency cycle (key -> log group -> key).
  function_log_groups     = { for f, name in local.function_names : f => "/aws/lambda/${name}" }
  state_machine_log_group = "/aws/vendedlogs/states/${local.stack.stateMachine}"
  sweep_log_group         = "/aws/vendedlogs/states/${local.stack.sweepStateMachine}"
  rule_arn                = "arn:${local.partition}:events:${local.region}:${local.account_id}:rule/${local.stack.eventBus}/${local.stack.eventRule}"
  state_machine_arn       = "arn:${local.partition}:states:${local.region}:${local.account_id}:stateMachine:${local.stack.stateMachine}"
  # The sweep's Distributed Map starts child executions of the sweep itself,
  # so its role names its own ARN, which cannot come from the resource.
  sweep_state_machine_arn = "arn:${local.partition}:states:${local.region}:${local.account_id}:stateMachine:${local.stack.sweepStateMachine}"
}

# One key for everything this region's central stack writes: logs, topics,
# the dead-letter queue and the functions' environment. The records table,
# policy bucket and reports bucket have the data module's key.
module "key" {
  source      = "../kms-key"
  description = "Moat central stack in ${local.region}: logs, topics, dead letters, function settings"
  service_grants = [
    {
      sid     = "CloudWatchLogsEncryptsMoatLogGroups"
      service = "logs.${local.region}.amazonaws.com"
      actions = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey"]
      conditions = {
        ArnEquals = {
          "kms:EncryptionContext:aws:logs:arn" = [
            for name in concat(values(local.function_log_groups), [local.state_machine_log_group, local.sweep_log_group]) :
            "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${name}"
          ]
        }
      }
    },
    {
      # Alarm notifications go to the encrypted escalation topic; CloudWatch
      # publishes them itself, not through a role of this account.
      sid     = "CloudWatchAlarmsPublishToEncryptedTopics"
      service = "cloudwatch.amazonaws.com"
      actions = ["kms:Decrypt", "kms:GenerateDataKey"]
    },
    {
      # The rule's target sends undeliverable events to the encrypted DLQ.
      sid     = "EventBridgeSendsDeadLetters"
      service = "events.amazonaws.com"
      actions = ["kms:Decrypt", "kms:GenerateDataKey"]
      conditions = {
        ArnEquals = { "aws:SourceArn" = [local.rule_arn] }
      }
    },
  ]
}

resource "aws_sns_topic" "notifications" {
  name              = local.stack.notificationTopic
  kms_master_key_id = module.key.arn
}

resource "aws_sns_topic" "escalations" {
  name              = local.stack.escalationTopic
  kms_master_key_id = module.key.arn
}

# Holds what could not be handled: the state machine's failed executions
# (original event and error) and events the rule could not deliver.
resource "aws_sqs_queue" "dead_letters" {
  name                              = local.stack.deadLetterQueue
  kms_master_key_id                 = module.key.arn
  kms_data_key_reuse_period_seconds = 3600
  message_retention_seconds         = 1209600 # 14 days, SQS's maximum
}

resource "aws_sqs_queue_policy" "dead_letters" {
  queue_url = aws_sqs_queue.dead_letters.url
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "RuleSendsUndeliveredEvents"
      Effect    = "Allow"
      Principal = { Service = "events.amazonaws.com" }
      Action    = "sqs:SendMessage"
      Resource  = aws_sqs_queue.dead_letters.arn
      Condition = { ArnEquals = { "aws:SourceArn" = aws_cloudwatch_event_rule.changes.arn } }
    }]
  })
}

# Which role this region plays. Terraform sets it once; `cargo xtask
# failover` flips it, so later applies must not set it back.
resource "aws_ssm_parameter" "active_region" {
  #checkov:skip=CKV2_AWS_34:The value is `active` or `passive`, not a secret; a SecureString would only add a KMS permission to every reader.
  name        = local.stack.activeRegionParameter
  description = "Moat's role in this region: active acts, passive records. Changed by cargo xtask failover."
  type        = "String"
  value       = var.region_role

  lifecycle {
    ignore_changes = [value]
  }
}
