output "rule_arn" {
  description = "The forwarding rule."
  value       = module.member.rule_arn
}

output "remediation_role_arn" {
  description = "The remediation role, when this region created it."
  value       = module.member.remediation_role_arn
}
