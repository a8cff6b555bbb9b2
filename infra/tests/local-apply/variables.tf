variable "primary_endpoint" {
  description = "The primary region's moto, e.g. http://127.0.0.1:5000."
  type        = string

  validation {
    condition     = startswith(var.primary_endpoint, "http://127.0.0.1:")
    error_message = "Only the local stack: the endpoint must be http://127.0.0.1:<port>."
  }
}

variable "dr_endpoint" {
  description = "The DR region's moto."
  type        = string

  validation {
    condition     = startswith(var.dr_endpoint, "http://127.0.0.1:")
    error_message = "Only the local stack: the endpoint must be http://127.0.0.1:<port>."
  }
}

variable "primary_states_endpoint" {
  description = "The local Step Functions endpoint for the primary region (moto has no ValidateStateMachineDefinition)."
  type        = string

  validation {
    condition     = startswith(var.primary_states_endpoint, "http://127.0.0.1:")
    error_message = "Only the local stack: the endpoint must be http://127.0.0.1:<port>."
  }
}

variable "dr_states_endpoint" {
  description = "The local Step Functions endpoint for the DR region."
  type        = string

  validation {
    condition     = startswith(var.dr_states_endpoint, "http://127.0.0.1:")
    error_message = "Only the local stack: the endpoint must be http://127.0.0.1:<port>."
  }
}

variable "manifest_path" {
  description = "A package manifest naming stand-in zips (fixtures/manifest.json): moto stores the code and never runs it."
  type        = string
  default     = null
}

variable "artifacts_root" {
  description = "The directory the manifest's zip paths are relative to: where the test wrote the stand-in zips."
  type        = string
}

variable "member_account_id" {
  description = "The member account: moto keeps one set of resources per account, and the member provider assumes a role into this one."
  type        = string
  default     = "111111111111"
}

variable "external_id" {
  description = "The external id shared by the central functions and the member's remediation role."
  type        = string
  default     = "moat-local-apply-external-id"
  sensitive   = true
}
