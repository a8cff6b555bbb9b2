variable "primary_region" {
  description = "The active region. Default: infra/stack.json's regions.primary."
  type        = string
  default     = null
}

variable "dr_region" {
  description = "The standby region. Default: infra/stack.json's regions.secondary."
  type        = string
  default     = null
}

variable "manifest_path" {
  description = "The package manifest of `cargo xtask package`. Default: target/lambda/manifest.json in this workspace."
  type        = string
  default     = null
}

variable "external_id" {
  description = "The external id for assuming the remediation role in member accounts (a long random string; the member accounts get the same)."
  type        = string
  sensitive   = true
}

variable "member_organization_id" {
  description = "The organization whose accounts forward events (o-...), or null."
  type        = string
  default     = null
}

variable "member_account_ids" {
  description = "Member accounts that forward events, in addition to or instead of the organization."
  type        = list(string)
  default     = []
}

variable "security_hub" {
  description = "`enabled` or `disabled`: import findings into Security Hub in the member accounts."
  type        = string
  default     = "enabled"
}

variable "event_archive_retention_days" {
  description = "How long each central bus archive keeps events for replay."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = { project = "moat" }
}

variable "sweep_time_utc" {
  description = "When the primary region's daily sweep starts, HH:MM in UTC."
  type        = string
  default     = "02:00"
}

variable "sweep_retention_days" {
  description = "How long a sweep's files are kept in the reports buckets."
  type        = number
  default     = 90
}

variable "report_retention_days" {
  description = "How long a daily compliance report is kept in the reports buckets."
  type        = number
  default     = 365
}

variable "records_table_overrides" {
  description = "Region -> records table name, after `cargo xtask restore records` switched that region's functions to a restored table; empty: the data module's global table everywhere."
  type        = map(string)
  default     = {}
}
