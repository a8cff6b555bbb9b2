terraform {
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.70, < 6.0"
    }
  }

  # Local state in the test's temporary copy: this root only ever runs
  # against the local stack (tests/terraform_apply.rs).
}
