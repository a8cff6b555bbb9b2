output "rule_arn" {
  description = "The forwarding rule on the default bus."
  value       = aws_cloudwatch_event_rule.forward.arn
}

output "event_pattern" {
  description = "The forwarding rule's pattern."
  value       = aws_cloudwatch_event_rule.forward.event_pattern
}

output "remediation_role_arn" {
  description = "The role the central functions assume, when this apply created it."
  value       = one(aws_iam_role.remediation[*].arn)
}

output "dead_letter_queue_url" {
  description = "Events that could not be forwarded."
  value       = aws_sqs_queue.dead_letters.url
}
