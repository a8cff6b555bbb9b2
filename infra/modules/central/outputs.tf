output "region" {
  description = "The region this stack runs in."
  value       = local.region
}

output "region_role" {
  description = "The role this region was deployed with (`active` or `passive`); the SSM parameter holds the current one."
  value       = var.region_role
}

output "state_machine_arn" {
  description = "The remediation state machine."
  value       = aws_sfn_state_machine.remediation.arn
}

output "state_machine_definition" {
  description = "The deployed definition, placeholders filled."
  value       = aws_sfn_state_machine.remediation.definition
}

output "sweep_state_machine_arn" {
  description = "The sweep state machine."
  value       = aws_sfn_state_machine.sweep.arn
}

output "sweep_state_machine_definition" {
  description = "The deployed sweep definition, placeholders filled."
  value       = aws_sfn_state_machine.sweep.definition
}

output "sweep_schedule" {
  description = "The daily schedule that starts the sweep: its name, ARN, expression, state and the input it starts the sweep with."
  value = {
    name       = aws_scheduler_schedule.sweep.name
    arn        = aws_scheduler_schedule.sweep.arn
    expression = aws_scheduler_schedule.sweep.schedule_expression
    state      = aws_scheduler_schedule.sweep.state
    input      = aws_scheduler_schedule.sweep.target[0].input
  }
}

output "reports_bucket" {
  description = "The reports bucket the sweep writes to (the data module's)."
  value       = var.data.reports_bucket_name
}

output "event_bus_arn" {
  description = "The central bus member accounts forward to."
  value       = aws_cloudwatch_event_bus.changes.arn
}

output "event_archive_arn" {
  description = "The archive of the central bus, replayed by a failover."
  value       = aws_cloudwatch_event_archive.changes.arn
}

output "notification_topic_arn" {
  description = "Announcements of changes Moat judged or fixed."
  value       = aws_sns_topic.notifications.arn
}

output "escalation_topic_arn" {
  description = "What needs a person: reviews, failures, alarms."
  value       = aws_sns_topic.escalations.arn
}

output "dead_letter_queue_url" {
  description = "The dead-letter queue."
  value       = aws_sqs_queue.dead_letters.url
}

output "function_alias_arns" {
  description = "Each function's `live` alias, by function."
  value       = { for f, alias in aws_lambda_alias.live : f => alias.arn }
}

output "function_role_arns" {
  description = "Each function's role, by function."
  value       = { for f, role in aws_iam_role.function : f => role.arn }
}

output "member_access_role_arns" {
  description = "The roles of the functions that assume the remediation role in member accounts: what the member module's trust policy admits."
  value       = [for f, role in aws_iam_role.function : role.arn if contains(local.reads[f], "memberRoleName")]
}

output "kms_key_arn" {
  description = "The key of this region's logs, topics, dead letters and function settings."
  value       = module.key.arn
}

output "dashboard_name" {
  description = "The CloudWatch dashboard of this region."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "active_region_parameter" {
  description = "The SSM parameter naming this region's role."
  value       = aws_ssm_parameter.active_region.name
}
