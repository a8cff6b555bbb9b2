# Alarms to the escalation topic for everything that means a change may have
# gone unhandled, and a dashboard of the pipeline.

locals {
  alarms = merge(
    {
      executions-failed = {
        name        = "${local.stack.stateMachine}-executions-failed"
        description = "A remediation execution failed: its change is in the dead-letter queue and was escalated."
        namespace   = "AWS/States"
        metric      = "ExecutionsFailed"
        statistic   = "Sum"
        dimensions  = tomap({ StateMachineArn = aws_sfn_state_machine.remediation.arn })
      }
      executions-timed-out = {
        name        = "${local.stack.stateMachine}-executions-timed-out"
        description = "A remediation execution ran past its timeout."
        namespace   = "AWS/States"
        metric      = "ExecutionsTimedOut"
        statistic   = "Sum"
        dimensions  = tomap({ StateMachineArn = aws_sfn_state_machine.remediation.arn })
      }
      sweep-executions-failed = {
        name        = "${local.stack.sweepStateMachine}-executions-failed"
        description = "A sweep failed: it was escalated, and some groups may not have been judged today."
        namespace   = "AWS/States"
        metric      = "ExecutionsFailed"
        statistic   = "Sum"
        dimensions  = tomap({ StateMachineArn = aws_sfn_state_machine.sweep.arn })
      }
      sweep-executions-timed-out = {
        name        = "${local.stack.sweepStateMachine}-executions-timed-out"
        description = "A sweep ran past its timeout without escalating: some groups may not have been judged today."
        namespace   = "AWS/States"
        metric      = "ExecutionsTimedOut"
        statistic   = "Sum"
        dimensions  = tomap({ StateMachineArn = aws_sfn_state_machine.sweep.arn })
      }
      dead-letters = {
        name        = "${local.stack.deadLetterQueue}-not-empty"
        description = "Changes wait in the dead-letter queue for a person: failed executions or undeliverable events."
        namespace   = "AWS/SQS"
        metric      = "ApproximateNumberOfMessagesVisible"
        statistic   = "Maximum"
        dimensions  = tomap({ QueueName = aws_sqs_queue.dead_letters.name })
      }
    },
    {
      for pair in setproduct(keys(local.functions), ["Errors", "Throttles"]) :
      "${pair[0]}-${lower(pair[1])}" => {
        name        = "${local.function_names[pair[0]]}-${lower(pair[1])}"
        description = "Moat's ${pair[0]} function reports ${lower(pair[1])}; the state machine retries, then escalates."
        namespace   = "AWS/Lambda"
        metric      = pair[1]
        statistic   = "Sum"
        dimensions  = tomap({ FunctionName = aws_lambda_function.this[pair[0]].function_name })
      }
    },
  )
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = local.alarms

  alarm_name          = each.value.name
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  statistic           = each.value.statistic
  dimensions          = each.value.dimensions
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  # No data means nothing happened, which is fine.
  treat_missing_data = "notBreaching"
  alarm_actions      = [aws_sns_topic.escalations.arn]
  ok_actions         = [aws_sns_topic.escalations.arn]
}

locals {
  function_metric = {
    for metric in ["Invocations", "Errors", "Throttles", "Duration"] : metric => [
      for f in keys(local.functions) : ["AWS/Lambda", metric, "FunctionName", local.function_names[f]]
    ]
  }
  # Moat's own metrics, which every function logs in Embedded Metric
  # Format (names and units in crates/moat-domain/src/metrics.rs; a tidy
  # test keeps this list equal to that one).
  moat_metrics = {
    namespace = "Moat"
    dimension = "Function"
    names     = ["Duration", "ViolationsFound", "RulesRevoked", "Remediated", "Escalated", "GroupsJudged"]
  }
  moat_metric = {
    for metric in local.moat_metrics.names : metric => [
      for f in keys(local.functions) : [local.moat_metrics.namespace, metric, local.moat_metrics.dimension, f]
    ]
  }
  widgets = [
    {
      title   = "Executions"
      metrics = [for metric in ["ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut"] : ["AWS/States", metric, "StateMachineArn", aws_sfn_state_machine.remediation.arn]]
      stat    = "Sum"
    },
    {
      title   = "Sweeps"
      metrics = [for metric in ["ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut"] : ["AWS/States", metric, "StateMachineArn", aws_sfn_state_machine.sweep.arn]]
      stat    = "Sum"
    },
    {
      title   = "Dead letters waiting"
      metrics = [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.dead_letters.name]]
      stat    = "Maximum"
    },
    { title = "Function invocations", metrics = local.function_metric.Invocations, stat = "Sum" },
    { title = "Function errors", metrics = local.function_metric.Errors, stat = "Sum" },
    { title = "Function throttles", metrics = local.function_metric.Throttles, stat = "Sum" },
    { title = "Function duration p99 (ms)", metrics = local.function_metric.Duration, stat = "p99" },
    { title = "Violations found", metrics = local.moat_metric.ViolationsFound, stat = "Sum" },
    { title = "Groups judged by sweeps", metrics = local.moat_metric.GroupsJudged, stat = "Sum" },
    { title = "Rules revoked", metrics = local.moat_metric.RulesRevoked, stat = "Sum" },
    { title = "Remediations", metrics = local.moat_metric.Remediated, stat = "Sum" },
    { title = "Escalations", metrics = local.moat_metric.Escalated, stat = "Sum" },
    { title = "Step latency p50 (ms)", metrics = local.moat_metric.Duration, stat = "p50" },
    { title = "Step latency p99 (ms)", metrics = local.moat_metric.Duration, stat = "p99" },
  ]
}

# Dashboards are global to the account, so the name carries the region.
resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = replace(local.stack.dashboard, "{region}", local.region)
  dashboard_body = jsonencode({
    widgets = [
      for index, widget in local.widgets : {
        type   = "metric"
        x      = (index % 2) * 12
        y      = floor(index / 2) * 6
        width  = 12
        height = 6
        properties = {
          title   = widget.title
          region  = local.region
          metrics = widget.metrics
          stat    = widget.stat
          period  = 300
          view    = "timeSeries"
        }
      }
    ]
  })
}
