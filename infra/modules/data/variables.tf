variable "noncurrent_version_days" {
  description = "How long a replaced policy version is kept in each region's bucket."
  type        = number
  default     = 365
}

variable "sweep_retention_days" {
  description = "How long a sweep's files (`sweeps/<id>/...` in the reports buckets) are kept."
  type        = number
  default     = 90
}

variable "report_retention_days" {
  description = "How long a daily compliance report (`reports/<date>/...` in the reports buckets) is kept."
  type        = number
  default     = 365
}

variable "reports_noncurrent_version_days" {
  description = "How long an overwritten or expired object's previous version is kept in the reports buckets."
  type        = number
  default     = 30
}
