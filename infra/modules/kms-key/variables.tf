variable "description" {
  description = "What the key protects, shown in the KMS console."
  type        = string
}

variable "service_grants" {
  description = <<-EOT
    Key-policy statements for AWS services that use the key on their own
    behalf (not through an IAM role of this account), e.g. CloudWatch Logs or
    EventBridge. Each names the service principal, the exact KMS actions and
    the conditions that tie the use to this stack's resources.
  EOT
  type = list(object({
    sid        = string
    service    = string
    actions    = list(string)
    conditions = optional(map(map(list(string))), {})
  }))
  default = []
}
