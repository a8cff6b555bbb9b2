# The central event bus: member accounts forward security-group changes to
# it, its archive keeps them for a failover's replay, and its rule starts
# the state machine.

resource "aws_cloudwatch_event_bus" "changes" {
  name = local.stack.eventBus
}

resource "aws_cloudwatch_event_bus_policy" "members" {
  event_bus_name = aws_cloudwatch_event_bus.changes.name
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      var.member_organization_id == null ? [] : [{
        Sid       = "OrganizationAccountsPutEvents"
        Effect    = "Allow"
        Principal = { AWS = "*" }
        Action    = "events:PutEvents"
        Resource  = aws_cloudwatch_event_bus.changes.arn
        Condition = { StringEquals = { "aws:PrincipalOrgID" = var.member_organization_id } }
      }],
      length(var.member_account_ids) == 0 ? [] : [{
        Sid       = "MemberAccountsPutEvents"
        Effect    = "Allow"
        Principal = { AWS = [for id in var.member_account_ids : "arn:${local.partition}:iam::${id}:root"] }
        Action    = "events:PutEvents"
        Resource  = aws_cloudwatch_event_bus.changes.arn
      }],
    )
  })
}

# Everything that reaches the bus, so `cargo xtask failover` can replay what
# the failed region saw into the new one.
resource "aws_cloudwatch_event_archive" "changes" {
  name             = local.stack.eventArchive
  description      = "Security-group changes received, for replay after a failover."
  event_source_arn = aws_cloudwatch_event_bus.changes.arn
  retention_days   = var.event_archive_retention_days
}

resource "aws_cloudwatch_event_rule" "changes" {
  name           = local.stack.eventRule
  description    = "Starts Moat's remediation for each security-group change."
  event_bus_name = aws_cloudwatch_event_bus.changes.name
  # The one pattern file, with Moat's own role filled in so its changes do
  # not loop back.
  event_pattern = jsonencode(jsondecode(templatefile(
    "${local.stack_dir}/${local.stack.eventPatternFile}",
    { RemediationRole = local.stack.remediationRole },
  )))

  # `cargo xtask failover` disables the old region's rule and `failback`
  # enables it again; a later apply must not undo either.
  lifecycle {
    ignore_changes = [state]
  }
}

resource "aws_iam_role" "events" {
  name = replace(local.stack.eventsRole, "{region}", local.region)
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "events.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account_id }
        ArnEquals    = { "aws:SourceArn" = local.rule_arn }
      }
    }]
  })
}

resource "aws_iam_role_policy" "events" {
  name = "start-remediation"
  role = aws_iam_role.events.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "StartRemediation"
      Effect   = "Allow"
      Action   = ["states:StartExecution"]
      Resource = aws_sfn_state_machine.remediation.arn
    }]
  })
}

resource "aws_cloudwatch_event_target" "state_machine" {
  rule           = aws_cloudwatch_event_rule.changes.name
  event_bus_name = aws_cloudwatch_event_bus.changes.name
  target_id      = "remediation"
  arn            = aws_sfn_state_machine.remediation.arn
  role_arn       = aws_iam_role.events.arn

  # A throttled or briefly unavailable Step Functions is retried for a day;
  # what still cannot be delivered lands in the dead-letter queue, alarmed.
  retry_policy {
    maximum_event_age_in_seconds = 86400
    maximum_retry_attempts       = 185
  }

  dead_letter_config {
    arn = aws_sqs_queue.dead_letters.arn
  }
}
