# The central module's invariants, planned and applied against a mocked AWS.
# Expected values come from infra/stack.json and the pattern file, never
# from copies of them.

mock_provider "aws" {
  source = "../../tests/mocks"
}

# Distinct alias ARNs, so the tests can tell which function each state calls.
override_resource {
  target = aws_lambda_alias.live["detect"]
  values = { arn = "arn:aws:lambda:us-east-1:111111111111:function:moat-detect:live" }
}
override_resource {
  target = aws_lambda_alias.live["evaluate"]
  values = { arn = "arn:aws:lambda:us-east-1:111111111111:function:moat-evaluate:live" }
}
override_resource {
  target = aws_lambda_alias.live["backup"]
  values = { arn = "arn:aws:lambda:us-east-1:111111111111:function:moat-backup:live" }
}
override_resource {
  target = aws_lambda_alias.live["remediate"]
  values = { arn = "arn:aws:lambda:us-east-1:111111111111:function:moat-remediate:live" }
}
override_resource {
  target = aws_lambda_alias.live["notify"]
  values = { arn = "arn:aws:lambda:us-east-1:111111111111:function:moat-notify:live" }
}
override_resource {
  target = aws_lambda_alias.live["escalate"]
  values = { arn = "arn:aws:lambda:us-east-1:111111111111:function:moat-escalate:live" }
}
override_resource {
  target = aws_lambda_alias.live["inventory"]
  values = { arn = "arn:aws:lambda:us-east-1:111111111111:function:moat-inventory:live" }
}
override_resource {
  target = aws_lambda_alias.live["report"]
  values = { arn = "arn:aws:lambda:us-east-1:111111111111:function:moat-report:live" }
}

# Distinct state machine ARNs, so the tests can tell what the sweep starts.
override_resource {
  target = aws_sfn_state_machine.remediation
  values = { arn = "arn:aws:states:us-east-1:111111111111:stateMachine:moat-remediation" }
}
override_resource {
  target = aws_sfn_state_machine.sweep
  values = { arn = "arn:aws:states:us-east-1:111111111111:stateMachine:moat-sweep" }
}

variables {
  manifest_path = "../../tests/fixtures/manifest.json"
  region_role   = "active"
  external_id   = "moat-test-external-id"
  data = {
    table_name  = "moat-records"
    table_arn   = "arn:aws:dynamodb:us-east-1:111111111111:table/moat-records"
    bucket_name = "moat-policies-111111111111-us-east-1"
    bucket_arn  = "arn:aws:s3:::moat-policies-111111111111-us-east-1"
    kms_key_arn = "arn:aws:kms:us-east-1:111111111111:key/11111111-1111-1111-1111-111111111111"

    reports_bucket_name = "moat-reports-111111111111-us-east-1"
    reports_bucket_arn  = "arn:aws:s3:::moat-reports-111111111111-us-east-1"
  }
  member_organization_id = "o-abcd123456"
}

run "central_region" {
  command = apply

  # --- The state machine runs the live aliases, logged and traced.

  assert {
    condition     = !strcontains(aws_sfn_state_machine.remediation.definition, "$${")
    error_message = "A placeholder is left unfilled in the deployed definition."
  }

  assert {
    condition = alltrue([
      for state in values(jsondecode(aws_sfn_state_machine.remediation.definition).States) :
      contains(values(output.function_alias_arns), state.Resource) && endswith(state.Resource, ":${jsondecode(file("../../stack.json")).functionAlias}")
      if state.Type == "Task" && !startswith(try(state.Resource, ""), "arn:aws:states:::")
    ])
    error_message = "A Lambda task calls something other than a function's live alias."
  }

  assert {
    condition = toset([
      for state in values(jsondecode(aws_sfn_state_machine.remediation.definition).States) :
      state.Resource if state.Type == "Task" && !startswith(try(state.Resource, ""), "arn:aws:states:::")
    ]) == toset([for f in ["detect", "evaluate", "backup", "remediate", "notify", "escalate"] : output.function_alias_arns[f]])
    error_message = "The remediation definition must call the live aliases of the six pipeline functions."
  }

  assert {
    condition = toset(flatten([
      for statement in jsondecode(aws_iam_role_policy.state_machine.policy).Statement :
      statement.Resource if contains(flatten([statement.Action]), "lambda:InvokeFunction")
    ])) == toset(regexall("arn:aws:lambda:[^\"]+", aws_sfn_state_machine.remediation.definition))
    error_message = "The remediation role may invoke exactly the aliases its definition calls (not the sweep's inventory and report)."
  }

  assert {
    condition = one([
      for state in values(jsondecode(aws_sfn_state_machine.remediation.definition).States) :
      state.Parameters.QueueUrl if try(state.Resource, "") == "arn:aws:states:::sqs:sendMessage"
    ]) == aws_sqs_queue.dead_letters.url
    error_message = "The dead-letter state does not send to the dead-letter queue."
  }

  assert {
    condition = (
      aws_sfn_state_machine.remediation.type == "STANDARD"
      && aws_sfn_state_machine.remediation.logging_configuration[0].level == "ALL"
      && aws_sfn_state_machine.remediation.logging_configuration[0].include_execution_data
      && aws_sfn_state_machine.remediation.tracing_configuration[0].enabled
    )
    error_message = "The state machine must be Standard, log ALL with execution data, and trace with X-Ray."
  }

  assert {
    condition = alltrue([
      for statement in jsondecode(aws_iam_role_policy.state_machine.policy).Statement :
      alltrue([for arn in statement.Resource : endswith(arn, ":live")])
      if contains(flatten([statement.Action]), "lambda:InvokeFunction")
    ])
    error_message = "The state machine's role may invoke something other than a live alias."
  }

  # --- Functions: the manifest's code, stack.json's settings.

  assert {
    condition = alltrue([
      for f, function in aws_lambda_function.this :
      sort(keys(function.environment[0].variables)) == sort(keys(jsondecode(file("../../stack.json")).functions[f].environment))
    ])
    error_message = "A function's environment differs from its environment in infra/stack.json."
  }

  assert {
    condition = (
      toset(keys(aws_lambda_function.this)) == toset(keys(jsondecode(file("../../stack.json")).functions))
      && alltrue([for f, function in aws_lambda_function.this :
        function.runtime == "provided.al2023" && function.handler == "bootstrap" && function.publish
        && function.source_code_hash == jsondecode(file(var.manifest_path)).functions[f].sha256Base64
        && one(function.architectures) == jsondecode(file(var.manifest_path)).functions[f].architecture
        && function.timeout == jsondecode(file("../../stack.json")).functions[f].timeoutSeconds
        && function.memory_size == jsondecode(file("../../stack.json")).functions[f].memoryMb
      ])
    )
    error_message = "Functions must be stack.json's, built from the manifest, on provided.al2023."
  }

  assert {
    condition = (
      aws_lambda_function.this["detect"].environment[0].variables.MOAT_SELF_ROLE_ARNS == "arn:aws:iam::*:role/${jsondecode(file("../../stack.json")).remediationRole}"
      && aws_lambda_function.this["evaluate"].environment[0].variables.MOAT_POLICY_BUCKET == var.data.bucket_name
      && aws_lambda_function.this["notify"].environment[0].variables.MOAT_TOPIC_ARN == aws_sns_topic.notifications.arn
      && aws_lambda_function.this["escalate"].environment[0].variables.MOAT_ESCALATION_TOPIC_ARN == aws_sns_topic.escalations.arn
      && aws_lambda_function.this["remediate"].environment[0].variables.MOAT_EXTERNAL_ID == var.external_id
      && aws_lambda_function.this["inventory"].environment[0].variables.MOAT_REPORTS_BUCKET == var.data.reports_bucket_name
      && aws_lambda_function.this["report"].environment[0].variables.MOAT_REPORTS_BUCKET == var.data.reports_bucket_name
    )
    error_message = "A setting has the wrong value."
  }

  assert {
    condition     = alltrue([for f, alias in aws_lambda_alias.live : alias.name == "live" && alias.function_version == aws_lambda_function.this[f].version])
    error_message = "Every function needs a live alias on its published version."
  }

  # --- Least privilege.

  assert {
    condition = alltrue(flatten([
      for document in concat(
        [for policy in aws_iam_role_policy.function : policy.policy],
        [aws_iam_role_policy.state_machine.policy, aws_iam_role_policy.events.policy, aws_sqs_queue_policy.dead_letters.policy],
        [aws_iam_role_policy.sweep.policy, aws_iam_role_policy.sweep_schedule.policy],
        [aws_iam_role.sweep.assume_role_policy, aws_iam_role.sweep_schedule.assume_role_policy],
        [aws_cloudwatch_event_bus_policy.members.policy, module.key.policy],
        [for role in aws_iam_role.function : role.assume_role_policy],
        ) : [
        for statement in jsondecode(document).Statement : [
          for action in flatten([statement.Action]) : !strcontains(action, "*")
        ]
      ]
    ]))
    error_message = "A policy allows a wildcard action."
  }

  assert {
    condition = alltrue([
      for f, policy in aws_iam_role_policy.function :
      contains(flatten([for s in jsondecode(policy.policy).Statement : s.Action]), "sts:AssumeRole")
      == contains(values(jsondecode(file("../../stack.json")).functions[f].environment), "memberRoleName")
    ])
    error_message = "Exactly the functions given the member role name may assume it."
  }

  assert {
    condition = alltrue([
      for f, policy in aws_iam_role_policy.function :
      contains(flatten([for s in jsondecode(policy.policy).Statement : s.Action]), "dynamodb:PutItem")
      == contains(values(jsondecode(file("../../stack.json")).functions[f].environment), "recordsTable")
    ])
    error_message = "Exactly the functions given the table may write to it."
  }

  assert {
    condition     = output.member_access_role_arns == [for f in ["detect", "inventory", "notify", "remediate"] : aws_iam_role.function[f].arn]
    error_message = "Member accounts must trust the roles of detect, inventory, notify and remediate, no others."
  }

  assert {
    condition = alltrue([
      for f, policy in aws_iam_role_policy.function :
      contains(flatten([for s in jsondecode(policy.policy).Statement : s.Action]), "dynamodb:Scan") == (f == "inventory")
    ])
    error_message = "Only inventory, which reads every group's open findings, may scan the table."
  }

  assert {
    condition = alltrue([
      for f, policy in aws_iam_role_policy.function :
      contains(flatten([for s in jsondecode(policy.policy).Statement : s.Action]), "s3:PutObject")
      == contains(values(jsondecode(file("../../stack.json")).functions[f].environment), "reportsBucket")
    ])
    error_message = "Exactly the functions given the reports bucket may write to it."
  }

  assert {
    condition = alltrue(flatten([
      for f in ["inventory", "report"] : [
        for statement in jsondecode(aws_iam_role_policy.function[f].policy).Statement : [
          for arn in flatten([statement.Resource]) :
          startswith(arn, "${var.data.reports_bucket_arn}/sweeps/") || startswith(arn, "${var.data.reports_bucket_arn}/reports/")
        ] if length(setintersection(flatten([statement.Action]), ["s3:GetObject", "s3:PutObject"])) > 0
      ]
    ]))
    error_message = "The reports functions may read and write objects under sweeps/ and reports/ of the reports bucket only."
  }

  assert {
    condition = alltrue([
      for f in ["inventory", "report"] : one([
        for statement in jsondecode(aws_iam_role_policy.function[f].policy).Statement :
        statement.Condition.StringEquals["kms:ViaService"] if statement.Sid == "UseReportsKey"
      ]) == "s3.us-east-1.amazonaws.com"
    ])
    error_message = "The reports functions may use the data key through S3 only."
  }

  # --- The sweep: its definition, its role, its schedule.

  assert {
    condition     = !strcontains(aws_sfn_state_machine.sweep.definition, "$${")
    error_message = "A placeholder is left unfilled in the deployed sweep definition."
  }

  assert {
    condition = (
      toset(regexall("arn:aws:lambda:[^\"]+", aws_sfn_state_machine.sweep.definition))
      == toset([for f in ["inventory", "evaluate", "report", "escalate"] : output.function_alias_arns[f]])
      && toset(flatten([
        for statement in jsondecode(aws_iam_role_policy.sweep.policy).Statement :
        statement.Resource if contains(flatten([statement.Action]), "lambda:InvokeFunction")
      ])) == toset(regexall("arn:aws:lambda:[^\"]+", aws_sfn_state_machine.sweep.definition))
    )
    error_message = "The sweep must call the live aliases of inventory, evaluate, report and escalate, and its role may invoke exactly those."
  }

  assert {
    condition     = toset(regexall("arn:aws:states:[^:]+:[0-9]+:stateMachine:[^\"]+", aws_sfn_state_machine.sweep.definition)) == toset([aws_sfn_state_machine.remediation.arn])
    error_message = "The sweep must start the remediation state machine, and no other."
  }

  assert {
    condition = toset(flatten([
      for statement in jsondecode(aws_iam_role_policy.sweep.policy).Statement :
      statement.Resource if contains(flatten([statement.Action]), "states:StartExecution")
    ])) == toset([aws_sfn_state_machine.remediation.arn, aws_sfn_state_machine.sweep.arn])
    error_message = "The sweep's role may start the remediation state machine and its own child executions, nothing else."
  }

  assert {
    condition = alltrue(flatten([
      for statement in jsondecode(aws_iam_role_policy.sweep.policy).Statement : [
        for arn in flatten([statement.Resource]) : (
          startswith(arn, "arn:aws:states:us-east-1:111111111111:execution:moat-sweep")
          || arn == "arn:aws:states:us-east-1:111111111111:execution:moat-remediation:*"
        )
      ] if anytrue([for a in flatten([statement.Action]) : contains(["states:DescribeExecution", "states:StopExecution"], a)])
    ]))
    error_message = "The sweep's role may follow and stop its own executions and the remediations it waits for, nothing else."
  }

  assert {
    condition = alltrue(flatten([
      for statement in jsondecode(aws_iam_role_policy.sweep.policy).Statement : [
        for arn in flatten([statement.Resource]) : startswith(arn, "${var.data.reports_bucket_arn}/sweeps/")
      ] if anytrue([for a in flatten([statement.Action]) : startswith(a, "s3:")])
    ]))
    error_message = "The sweep's role may touch the reports bucket under sweeps/ only."
  }

  assert {
    condition = one([
      for statement in jsondecode(aws_iam_role_policy.sweep.policy).Statement :
      statement.Resource if contains(flatten([statement.Action]), "s3:PutObject")
    ]) == "${var.data.reports_bucket_arn}/sweeps/*/map/*"
    error_message = "The Distributed Map may write its results under sweeps/<id>/map/ only."
  }

  assert {
    condition = (
      aws_sfn_state_machine.sweep.name == jsondecode(file("../../stack.json")).sweepStateMachine
      && aws_sfn_state_machine.sweep.type == "STANDARD"
      && aws_sfn_state_machine.sweep.logging_configuration[0].level == "ALL"
      && aws_sfn_state_machine.sweep.logging_configuration[0].include_execution_data
      && aws_sfn_state_machine.sweep.tracing_configuration[0].enabled
      && aws_cloudwatch_log_group.sweep.kms_key_id == module.key.arn
      && aws_iam_role.sweep.name == replace(jsondecode(file("../../stack.json")).sweepStateMachineRole, "{region}", "us-east-1")
    )
    error_message = "The sweep must be stack.json's, Standard, log ALL with execution data to an encrypted log group, and trace with X-Ray."
  }

  assert {
    condition = (
      aws_scheduler_schedule.sweep.state == "ENABLED"
      && aws_scheduler_schedule.sweep.schedule_expression == "cron(0 2 * * ? *)"
      && aws_scheduler_schedule.sweep.schedule_expression_timezone == "UTC"
      && aws_scheduler_schedule.sweep.target[0].arn == aws_sfn_state_machine.sweep.arn
      && aws_scheduler_schedule.sweep.target[0].role_arn == aws_iam_role.sweep_schedule.arn
      && jsondecode(aws_scheduler_schedule.sweep.target[0].input).dryRun == false
    )
    error_message = "By default the sweep starts every day at 02:00 UTC, for real, through its own role."
  }

  assert {
    condition = [
      for statement in jsondecode(aws_iam_role_policy.sweep_schedule.policy).Statement : [statement.Effect, statement.Action, statement.Resource]
    ] == [["Allow", ["states:StartExecution"], aws_sfn_state_machine.sweep.arn], ["Allow", ["kms:Decrypt"], module.key.arn]]
    error_message = "The schedule's role may start the sweep and decrypt the schedule's input, and nothing else."
  }

  assert {
    condition = (
      aws_scheduler_schedule.sweep.kms_key_arn == module.key.arn
      && one([
        for statement in jsondecode(aws_iam_role_policy.sweep_schedule.policy).Statement :
        statement.Condition.StringEquals["kms:EncryptionContext:aws:scheduler:schedule-arn"] if contains(statement.Action, "kms:Decrypt")
      ]) == "arn:aws:scheduler:us-east-1:111111111111:schedule/default/${aws_scheduler_schedule.sweep.name}"
    )
    error_message = "The schedule's input must be encrypted with the central key, decryptable by its role for this schedule only."
  }

  assert {
    condition     = jsondecode(aws_iam_role.sweep_schedule.assume_role_policy).Statement[0].Principal.Service == "scheduler.amazonaws.com"
    error_message = "Only EventBridge Scheduler may assume the schedule's role."
  }

  # --- Encryption everywhere.

  assert {
    condition = (
      aws_sns_topic.notifications.kms_master_key_id == module.key.arn
      && aws_sns_topic.escalations.kms_master_key_id == module.key.arn
      && aws_sqs_queue.dead_letters.kms_master_key_id == module.key.arn
      && aws_cloudwatch_log_group.state_machine.kms_key_id == module.key.arn
      && alltrue([for group in aws_cloudwatch_log_group.function : group.kms_key_id == module.key.arn])
      && alltrue([for function in aws_lambda_function.this : function.kms_key_arn == module.key.arn])
    )
    error_message = "Topics, the queue, log groups and function settings must be encrypted with the central key."
  }

  # --- Events: the bus, its archive, the rule.

  assert {
    condition     = aws_cloudwatch_event_archive.changes.event_source_arn == aws_cloudwatch_event_bus.changes.arn && aws_cloudwatch_event_archive.changes.name == jsondecode(file("../../stack.json")).eventArchive
    error_message = "The central bus needs its archive for the failover replay."
  }

  assert {
    condition = jsondecode(aws_cloudwatch_event_rule.changes.event_pattern) == jsondecode(replace(
      file("../../eventbridge/security-group-changes.json"), "$${RemediationRole}", jsondecode(file("../../stack.json")).remediationRole,
    ))
    error_message = "The central rule's pattern must be the pattern file with the remediation role filled in."
  }

  assert {
    condition = (
      aws_cloudwatch_event_rule.changes.event_bus_name == aws_cloudwatch_event_bus.changes.name
      && aws_cloudwatch_event_target.state_machine.arn == aws_sfn_state_machine.remediation.arn
      && aws_cloudwatch_event_target.state_machine.dead_letter_config[0].arn == aws_sqs_queue.dead_letters.arn
      && aws_cloudwatch_event_target.state_machine.retry_policy[0].maximum_retry_attempts > 0
    )
    error_message = "The rule must start the state machine, with retries and a dead-letter queue."
  }

  assert {
    condition     = jsondecode(aws_cloudwatch_event_bus_policy.members.policy).Statement[0].Condition.StringEquals["aws:PrincipalOrgID"] == "o-abcd123456"
    error_message = "The bus must admit the organization's accounts."
  }

  # --- Alarms, parameter.

  assert {
    condition = length(setsubtract(
      concat(
        ["AWS/States:ExecutionsFailed", "AWS/States:ExecutionsTimedOut", "AWS/SQS:ApproximateNumberOfMessagesVisible"],
        [for metric in ["ExecutionsFailed", "ExecutionsTimedOut"] : "AWS/States:${metric}:${aws_sfn_state_machine.sweep.arn}"],
        flatten([for function in aws_lambda_function.this : [for metric in ["Errors", "Throttles"] : "AWS/Lambda:${metric}:${function.function_name}"]]),
      ),
      concat(
        [for alarm in aws_cloudwatch_metric_alarm.this : join(":", compact([alarm.namespace, alarm.metric_name, lookup(alarm.dimensions, "FunctionName", "")]))],
        [for alarm in aws_cloudwatch_metric_alarm.this : join(":", compact([alarm.namespace, alarm.metric_name, lookup(alarm.dimensions, "StateMachineArn", "")]))],
      ),
    )) == 0
    error_message = "An alarm is missing."
  }

  assert {
    condition     = alltrue([for alarm in aws_cloudwatch_metric_alarm.this : alarm.alarm_actions == toset([aws_sns_topic.escalations.arn])])
    error_message = "Every alarm must notify the escalation topic."
  }

  assert {
    condition     = aws_ssm_parameter.active_region.value == "active" && aws_ssm_parameter.active_region.name == jsondecode(file("../../stack.json")).activeRegionParameter
    error_message = "The active-region parameter must hold the region's role."
  }
}

run "member_accounts_by_id" {
  command = plan

  variables {
    member_organization_id = null
    member_account_ids     = ["222222222222", "333333333333"]
  }

  assert {
    condition     = jsondecode(aws_cloudwatch_event_bus_policy.members.policy).Statement[0].Principal.AWS == ["arn:aws:iam::222222222222:root", "arn:aws:iam::333333333333:root"]
    error_message = "The bus must admit exactly the listed accounts."
  }

  assert {
    condition = [
      for statement in jsondecode(aws_iam_role_policy.function["remediate"].policy).Statement :
      statement.Resource if statement.Sid == "AssumeMemberRemediationRole"
    ][0] == ["arn:aws:iam::222222222222:role/moat-remediation", "arn:aws:iam::333333333333:role/moat-remediation"]
    error_message = "With listed accounts, the functions may assume the remediation role in those accounts only."
  }

  assert {
    condition = jsondecode(aws_scheduler_schedule.sweep.target[0].input).targets == [
      { account = "222222222222", region = "us-east-1" },
      { account = "333333333333", region = "us-east-1" },
    ]
    error_message = "The daily sweep must name every listed member account, in this region."
  }
}

run "sweep_schedule_disabled_and_moved" {
  command = plan

  variables {
    sweep_schedule_enabled = false
    sweep_time_utc         = "23:05"
  }

  assert {
    condition     = aws_scheduler_schedule.sweep.state == "DISABLED" && aws_scheduler_schedule.sweep.schedule_expression == "cron(5 23 * * ? *)"
    error_message = "A disabled schedule must be DISABLED, and the time must come from sweep_time_utc."
  }
}

run "sweep_time_must_be_a_time" {
  command = plan

  variables {
    sweep_time_utc = "2am"
  }

  expect_failures = [var.sweep_time_utc]
}

run "members_required" {
  command = plan

  variables {
    member_organization_id = null
    member_account_ids     = []
  }

  expect_failures = [var.member_account_ids]
}

run "manifest_must_cover_every_function" {
  command = plan

  variables {
    # A JSON file without a `functions.<f>.sha256Base64` for each function.
    manifest_path = "../../stack.json"
  }

  expect_failures = [var.manifest_path]
}
