variable "noncurrent_version_days" {
  description = "How long a replaced policy version is kept in each region's bucket."
  type        = number
  default     = 365
}
