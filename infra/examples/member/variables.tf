variable "region" {
  description = "The member account's region whose security-group changes are forwarded."
  type        = string
}

variable "central_event_bus_arns" {
  description = "The central stack's `event_bus_arns` output."
  type        = map(string)
}

variable "trusted_role_arns" {
  description = "The central stack's `member_access_role_arns` output."
  type        = list(string)
}

variable "external_id" {
  description = "The central stack's external id."
  type        = string
  sensitive   = true
}

variable "create_remediation_role" {
  description = "true in exactly one region of each member account (IAM is global), false in its other regions."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = { project = "moat" }
}
