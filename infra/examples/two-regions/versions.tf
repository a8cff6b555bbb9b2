terraform {
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.70, < 6.0"
    }
  }

  # State lives in S3 (locked with a lock file). The bucket and key come
  # from backend.hcl: `terraform init -backend-config=backend.hcl`.
  backend "s3" {}
}
