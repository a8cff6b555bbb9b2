variable "name" {
  description = "The bucket's name."
  type        = string
}

variable "kms_key_arn" {
  description = "The customer managed key that encrypts every object (SSE-KMS)."
  type        = string
}

variable "sweep_days" {
  description = "How long a sweep's files (`sweeps/<id>/...`: inventory, map results, results, summary) are kept. The records table keeps each sweep's summary regardless."
  type        = number

  validation {
    condition     = var.sweep_days >= 1
    error_message = "sweep_days is at least 1."
  }
}

variable "report_days" {
  description = "How long a daily compliance report (`reports/<date>/...`) is kept. The report's trend reads the reports of the days before it."
  type        = number

  validation {
    condition     = var.report_days >= 1
    error_message = "report_days is at least 1."
  }
}

variable "noncurrent_version_days" {
  description = "How long an overwritten or expired object's previous version is kept."
  type        = number
}
