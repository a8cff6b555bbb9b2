variable "manifest_path" {
  description = "The package manifest written by `cargo xtask package` (target/lambda/manifest.json): each function's zip, architecture and SHA-256."
  type        = string

  validation {
    condition = can([
      for function in keys(jsondecode(file("${path.module}/../../stack.json")).functions) :
      jsondecode(file(var.manifest_path)).functions[function].sha256Base64
    ])
    error_message = "The package manifest is missing, or lacks a function of infra/stack.json: run `cargo xtask package` first."
  }
}

variable "artifacts_root" {
  description = "The directory the manifest's zip paths are relative to. Default: the workspace root, where `cargo xtask package` writes them."
  type        = string
  default     = null
}

variable "data" {
  description = "This region's records table, policy bucket and reports bucket, and the key that encrypts them: one entry of the data module's `regions` output."
  type = object({
    table_name          = string
    table_arn           = string
    bucket_name         = string
    bucket_arn          = string
    kms_key_arn         = string
    reports_bucket_name = string
    reports_bucket_arn  = string
  })
}

variable "region_role" {
  description = "`active` for the region that acts, `passive` for the standby. Only the first apply sets it: the DR commands change it afterwards."
  type        = string

  validation {
    condition     = contains(["active", "passive"], var.region_role)
    error_message = "region_role is `active` or `passive`."
  }
}

variable "external_id" {
  description = "The external id the functions present when they assume the remediation role in member accounts; the member module's trust policy requires the same value."
  type        = string
  sensitive   = true

  validation {
    condition     = length(var.external_id) >= 2 && length(var.external_id) <= 1224 && length(regexall("^[\\w+=,.@:/-]+$", var.external_id)) > 0
    error_message = "An external id is 2 to 1224 characters of letters, digits and +=,.@:/-_."
  }
}

variable "security_hub" {
  description = "`enabled` to import findings into Security Hub in the member accounts, `disabled` to skip it."
  type        = string
  default     = "enabled"

  validation {
    condition     = contains(["enabled", "disabled"], var.security_hub)
    error_message = "security_hub is `enabled` or `disabled`."
  }
}

variable "member_organization_id" {
  description = "The AWS Organizations id (o-...) whose accounts may send events to the central bus. Use this, member_account_ids, or both."
  type        = string
  default     = null

  validation {
    condition     = var.member_organization_id == null || can(regex("^o-[a-z0-9]{10,32}$", var.member_organization_id))
    error_message = "An organization id looks like o-abcd123456."
  }
}

variable "member_account_ids" {
  description = "Member accounts that may send events to the central bus. When set, the functions may assume the remediation role in these accounts only."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.member_account_ids : can(regex("^[0-9]{12}$", id))])
    error_message = "Account ids are 12 digits."
  }

  validation {
    condition     = var.member_organization_id != null || length(var.member_account_ids) > 0
    error_message = "Name the member accounts: member_organization_id, member_account_ids, or both."
  }
}

variable "event_archive_retention_days" {
  description = "How long the central bus archive keeps events; `cargo xtask failover` replays them into the new region. 0 keeps them forever."
  type        = number
  default     = 30
}

variable "log_retention_days" {
  description = "How long function and state machine logs are kept."
  type        = number
  default     = 365
}

variable "reserved_concurrency" {
  description = "Concurrency reserved for each function, or null to share the account's pool. Reserving takes from the pool and fails on accounts whose limit is low."
  type        = number
  default     = null
}

variable "sweep_schedule_enabled" {
  description = "Whether this region's daily sweep runs. Enable it in the active region only: a passive region's sweep would remediate the same member accounts a second time."
  type        = bool
  default     = true
}

variable "sweep_time_utc" {
  description = "When the daily sweep starts, as HH:MM in UTC."
  type        = string
  default     = "02:00"

  validation {
    condition     = can(regex("^([01][0-9]|2[0-3]):[0-5][0-9]$", var.sweep_time_utc))
    error_message = "sweep_time_utc is HH:MM, 00:00 to 23:59."
  }
}
