variable "name" {
  description = "The bucket's name."
  type        = string
}

variable "kms_key_arn" {
  description = "The customer managed key that encrypts every object (SSE-KMS)."
  type        = string
}

variable "noncurrent_version_days" {
  description = "How long a replaced policy version is kept. `cargo xtask restore` can bring back any version still kept."
  type        = number
}
