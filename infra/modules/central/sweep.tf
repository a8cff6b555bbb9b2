# The sweep: once a day, every security group of every member account in
# this region judged by the policy a change is judged by, each violator
# fixed through the remediation state machine. The state machine comes from
# statemachines/sweep.asl.json, its placeholders filled as the remediation
# machine's are: ${<Function>FunctionArn} with the `live` aliases, and
# ${RemediationStateMachineArn}. Its Distributed Map reads the inventory
# from the reports bucket and writes its results there, under the sweep's
# own `sweeps/<id>/` prefix.

locals {
  sweep_file      = file("${local.stack_dir}/${local.stack.sweepStateMachineFile}")
  sweep_functions = [for f, placeholder in local.function_placeholders : f if strcontains(local.sweep_file, "$${${placeholder}}")]
  sweep_definition = templatefile(
    "${local.stack_dir}/${local.stack.sweepStateMachineFile}",
    merge(local.function_arns, { RemediationStateMachineArn = aws_sfn_state_machine.remediation.arn }),
  )

  # Every member account listed, in this region. An organization alone
  # names no accounts, so it gives an empty sweep: list the accounts to
  # sweep them (infra/README.md).
  sweep_input = {
    targets = [for id in var.member_account_ids : { account = id, region = local.region }]
    dryRun  = false
  }

  # Neither name is in stack.json yet: both follow the sweep state
  # machine's, and the role's carries the region, IAM being global.
  sweep_schedule_name = local.stack.sweepStateMachine
  sweep_schedule_role = "${local.stack.sweepStateMachine}-schedule-${local.region}"
  # Known before the schedule exists, for its role's trust and key grant.
  sweep_schedule_arn = "arn:${local.partition}:scheduler:${local.region}:${local.account_id}:schedule/default/${local.sweep_schedule_name}"
  sweep_time         = split(":", var.sweep_time_utc)
}

resource "aws_cloudwatch_log_group" "sweep" {
  name              = local.sweep_log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = module.key.arn
}

resource "aws_iam_role" "sweep" {
  name = replace(local.stack.sweepStateMachineRole, "{region}", local.region)
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "states.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account_id }
        ArnLike      = { "aws:SourceArn" = local.sweep_state_machine_arn }
      }
    }]
  })
}

resource "aws_iam_role_policy" "sweep" {
  name = "least-privilege"
  role = aws_iam_role.sweep.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "InvokeLiveAliasesOnly"
        Effect   = "Allow"
        Action   = ["lambda:InvokeFunction"]
        Resource = [for f in local.sweep_functions : aws_lambda_alias.live[f].arn]
      },
      {
        # A violator is fixed by the remediation state machine, so that
        # nothing is revoked on a path that skips the backup.
        Sid      = "StartRemediations"
        Effect   = "Allow"
        Action   = ["states:StartExecution"]
        Resource = aws_sfn_state_machine.remediation.arn
      },
      {
        # A batch waits for the remediations it starts (startExecution.sync:2),
        # which Step Functions does by describing them and, when the batch
        # gives up, stopping them ("IAM policies for running nested
        # executions").
        Sid      = "FollowRemediations"
        Effect   = "Allow"
        Action   = ["states:DescribeExecution", "states:StopExecution"]
        Resource = "arn:${local.partition}:states:${local.region}:${local.account_id}:execution:${local.stack.stateMachine}:*"
      },
      {
        # .sync waits through the rule Step Functions manages for it.
        Sid      = "ManagedRuleForNestedExecutions"
        Effect   = "Allow"
        Action   = ["events:PutTargets", "events:PutRule", "events:DescribeRule"]
        Resource = "arn:${local.partition}:events:${local.region}:${local.account_id}:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule"
      },
      {
        # The Distributed Map runs each batch as a child execution of this
        # state machine, and follows and stops them (Step Functions, "IAM
        # policies for using Distributed Map states"). A child's ARN is
        # execution:<machine>/<map run>:<id>, the parent's
        # execution:<machine>:<name>.
        Sid      = "RunOwnChildExecutions"
        Effect   = "Allow"
        Action   = ["states:StartExecution"]
        Resource = local.sweep_state_machine_arn
      },
      {
        Sid    = "FollowOwnExecutions"
        Effect = "Allow"
        Action = ["states:DescribeExecution", "states:StopExecution"]
        Resource = [
          "arn:${local.partition}:states:${local.region}:${local.account_id}:execution:${local.stack.sweepStateMachine}:*",
          "arn:${local.partition}:states:${local.region}:${local.account_id}:execution:${local.stack.sweepStateMachine}/*",
        ]
      },
      {
        # The ItemReader reads the inventory the inventory function wrote.
        Sid      = "ReadInventory"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = "${var.data.reports_bucket_arn}/sweeps/*/inventory.jsonl"
      },
      {
        # The ResultWriter writes the map's results in multipart uploads
        # under sweeps/<id>/map/, and reads back what it wrote.
        Sid      = "WriteMapResults"
        Effect   = "Allow"
        Action   = ["s3:PutObject", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"]
        Resource = "${var.data.reports_bucket_arn}/sweeps/*/map/*"
      },
      {
        Sid      = "UseReportsKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource = var.data.kms_key_arn
        Condition = {
          StringEquals = { "kms:ViaService" = "s3.${local.region}.amazonaws.com" }
          StringLike   = { "kms:EncryptionContext:aws:s3:arn" = [var.data.reports_bucket_arn, "${var.data.reports_bucket_arn}/*"] }
        }
      },
      {
        # As for the remediation state machine: the vended-log API has no
        # resource-level permissions.
        Sid    = "DeliverLogs"
        Effect = "Allow"
        Action = [
          "logs:CreateLogDelivery",
          "logs:DeleteLogDelivery",
          "logs:DescribeLogGroups",
          "logs:DescribeResourcePolicies",
          "logs:GetLogDelivery",
          "logs:ListLogDeliveries",
          "logs:PutResourcePolicy",
          "logs:UpdateLogDelivery",
        ]
        Resource = "*"
      },
      {
        Sid      = "WriteTraces"
        Effect   = "Allow"
        Action   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
        Resource = "*"
      },
    ]
  })
}

resource "aws_sfn_state_machine" "sweep" {
  name       = local.stack.sweepStateMachine
  type       = "STANDARD"
  role_arn   = aws_iam_role.sweep.arn
  definition = local.sweep_definition

  # As for the remediation state machine: every state's input and output,
  # so an operator can follow a sweep to each group it judged.
  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.sweep.arn}:*"
    include_execution_data = true
    level                  = "ALL"
  }

  tracing_configuration {
    enabled = true
  }

  # Step Functions checks the role when the state machine is created.
  depends_on = [aws_iam_role_policy.sweep]
}

# The daily start. Scheduler assumes this role to start the sweep, and to
# decrypt the schedule's input (the member accounts), which it keeps
# encrypted with the central key; the role may do nothing else.
resource "aws_iam_role" "sweep_schedule" {
  name = local.sweep_schedule_role
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "scheduler.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account_id }
        ArnEquals    = { "aws:SourceArn" = local.sweep_schedule_arn }
      }
    }]
  })
}

resource "aws_iam_role_policy" "sweep_schedule" {
  name = "start-sweep"
  role = aws_iam_role.sweep_schedule.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "StartSweep"
        Effect   = "Allow"
        Action   = ["states:StartExecution"]
        Resource = aws_sfn_state_machine.sweep.arn
      },
      {
        # With a customer managed key, Scheduler decrypts the schedule's
        # target input as the execution role, in the schedule's own
        # encryption context.
        Sid      = "DecryptScheduleInput"
        Effect   = "Allow"
        Action   = ["kms:Decrypt"]
        Resource = module.key.arn
        Condition = {
          StringEquals = { "kms:EncryptionContext:aws:scheduler:schedule-arn" = local.sweep_schedule_arn }
        }
      },
    ]
  })
}

resource "aws_scheduler_schedule" "sweep" {
  name        = local.sweep_schedule_name
  group_name  = "default"
  description = "Starts Moat's daily sweep of every member account in ${local.region}."

  schedule_expression          = "cron(${tonumber(local.sweep_time[1])} ${tonumber(local.sweep_time[0])} * * ? *)"
  schedule_expression_timezone = "UTC"
  kms_key_arn                  = module.key.arn
  # Only the active region sweeps: a passive one would remediate the same
  # accounts twice. Moving the sweep with a failover is not done yet (the
  # DR commands will enable this region's schedule); until then, an
  # apply with sweep_schedule_enabled moves it.
  state = var.sweep_schedule_enabled ? "ENABLED" : "DISABLED"

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_sfn_state_machine.sweep.arn
    role_arn = aws_iam_role.sweep_schedule.arn
    input    = jsonencode(local.sweep_input)

    # A sweep that could not start within six hours waits for the next day
    # rather than run into the working day.
    retry_policy {
      maximum_event_age_in_seconds = 21600
      maximum_retry_attempts       = 185
    }
  }
}
