# The remediation state machine, from the one definition in statemachines/
# that the local executor also runs. Its placeholders are filled here:
# ${<Function>FunctionArn} with the function's `live` alias, and
# ${DeadLetterQueueUrl}. templatefile fails on a placeholder it is not
# given, so a new one in the definition cannot slip through unfilled.

locals {
  # detect -> DetectFunctionArn, notify-owner -> NotifyOwnerFunctionArn
  # (the same rule as `cargo xtask sfn run`).
  function_placeholders = {
    for f in keys(local.functions) :
    f => "${join("", [for part in split("-", replace(f, "_", "-")) : "${upper(substr(part, 0, 1))}${substr(part, 1, -1)}"])}FunctionArn"
  }
  function_arns = { for f, placeholder in local.function_placeholders : placeholder => aws_lambda_alias.live[f].arn }

  # The functions a definition calls: those whose placeholder it names.
  # Each state machine's role may invoke exactly these.
  remediation_file      = file("${local.stack_dir}/${local.stack.stateMachineFile}")
  remediation_functions = [for f, placeholder in local.function_placeholders : f if strcontains(local.remediation_file, "$${${placeholder}}")]

  placeholders = merge(local.function_arns, { DeadLetterQueueUrl = aws_sqs_queue.dead_letters.url })
  definition   = templatefile("${local.stack_dir}/${local.stack.stateMachineFile}", local.placeholders)
}

resource "aws_cloudwatch_log_group" "state_machine" {
  name              = local.state_machine_log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = module.key.arn
}

resource "aws_iam_role" "state_machine" {
  name = replace(local.stack.stateMachineRole, "{region}", local.region)
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "states.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account_id }
        ArnLike      = { "aws:SourceArn" = local.state_machine_arn }
      }
    }]
  })
}

resource "aws_iam_role_policy" "state_machine" {
  name = "least-privilege"
  role = aws_iam_role.state_machine.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "InvokeLiveAliasesOnly"
        Effect   = "Allow"
        Action   = ["lambda:InvokeFunction"]
        Resource = [for f in local.remediation_functions : aws_lambda_alias.live[f].arn]
      },
      {
        Sid      = "SendDeadLetters"
        Effect   = "Allow"
        Action   = ["sqs:SendMessage"]
        Resource = aws_sqs_queue.dead_letters.arn
      },
      {
        Sid      = "EncryptDeadLetters"
        Effect   = "Allow"
        Action   = ["kms:GenerateDataKey", "kms:Decrypt"]
        Resource = module.key.arn
        Condition = {
          StringEquals = { "kms:ViaService" = "sqs.${local.region}.amazonaws.com" }
        }
      },
      {
        # Step Functions delivers logs through CloudWatch Logs' vended-log
        # API, whose actions have no resource-level permissions.
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

resource "aws_sfn_state_machine" "remediation" {
  name       = local.stack.stateMachine
  type       = "STANDARD"
  role_arn   = aws_iam_role.state_machine.arn
  definition = local.definition

  # Every state's input and output in the log: what an operator needs to
  # follow one change through the pipeline.
  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.state_machine.arn}:*"
    include_execution_data = true
    level                  = "ALL"
  }

  tracing_configuration {
    enabled = true
  }

  # Step Functions checks the role when the state machine is created.
  depends_on = [aws_iam_role_policy.state_machine]
}
