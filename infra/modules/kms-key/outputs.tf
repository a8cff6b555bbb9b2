output "arn" {
  description = "The key's ARN."
  value       = aws_kms_key.this.arn
}

output "policy" {
  description = "The key policy, as JSON."
  value       = aws_kms_key.this.policy
}
