# A customer managed KMS key with yearly rotation and a key policy that lists
# every action it allows: no "kms:*", so a reviewer can read exactly what the
# account's IAM policies may grant and what each AWS service may do.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  # Everything the account's administrators and roles may be granted through
  # IAM. The account principal only delegates to IAM: a role still needs an
  # IAM policy naming this key before it can use it.
  account_actions = [
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListGrants",
    "kms:ListKeyRotations",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:RetireGrant",
    "kms:RevokeGrant",
    "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
  ]

  policy = {
    Version = "2012-10-17"
    Statement = concat(
      [{
        Sid       = "AccountDelegatesToIam"
        Effect    = "Allow"
        Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
        Action    = local.account_actions
        Resource  = "*"
      }],
      [for grant in var.service_grants : merge(
        {
          Sid       = grant.sid
          Effect    = "Allow"
          Principal = { Service = grant.service }
          Action    = grant.actions
          Resource  = "*"
        },
        length(grant.conditions) > 0 ? { Condition = grant.conditions } : {},
      )],
    )
  }
}

resource "aws_kms_key" "this" {
  description             = var.description
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = 30
  policy                  = jsonencode(local.policy)
}
