variable "central_event_bus_arns" {
  description = "The central buses to forward to, by name (e.g. primary and dr): the two-regions example's `event_bus_arns` output."
  type        = map(string)

  validation {
    condition     = length(var.central_event_bus_arns) > 0 && alltrue([for arn in values(var.central_event_bus_arns) : can(regex("^arn:[^:]+:events:[^:]+:[0-9]{12}:event-bus/.+$", arn))])
    error_message = "central_event_bus_arns maps names to event bus ARNs (arn:aws:events:<region>:<account>:event-bus/<name>)."
  }
}

variable "trusted_role_arns" {
  description = "The central functions' roles that may assume the remediation role: the two-regions example's `member_access_role_arns` output."
  type        = list(string)

  validation {
    condition     = length(var.trusted_role_arns) > 0 && alltrue([for arn in var.trusted_role_arns : can(regex("^arn:[^:]+:iam::[0-9]{12}:role/.+$", arn))])
    error_message = "trusted_role_arns are IAM role ARNs."
  }
}

variable "external_id" {
  description = "The external id the central functions present; the same value as the central stack's."
  type        = string
  sensitive   = true

  validation {
    condition     = length(var.external_id) >= 2 && length(var.external_id) <= 1224 && length(regexall("^[\\w+=,.@:/-]+$", var.external_id)) > 0
    error_message = "An external id is 2 to 1224 characters of letters, digits and +=,.@:/-_."
  }
}

variable "create_remediation_role" {
  description = "IAM roles are global: create the remediation role in one region of the account (true) and forward events from the others with false."
  type        = bool
  default     = true
}
