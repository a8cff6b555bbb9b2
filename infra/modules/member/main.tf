# What a member account needs, in one region: a rule on the default bus that
# forwards its security-group changes to both central buses, and (once per
# account, IAM being global) the remediation role the central functions
# assume. Apply it in every region of the account that has security groups.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  stack      = jsondecode(file("${path.module}/../../stack.json"))
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
  rule_arn   = "arn:${local.partition}:events:${local.region}:${local.account_id}:rule/${local.stack.memberEventRule}"
}

resource "aws_cloudwatch_event_rule" "forward" {
  name        = local.stack.memberEventRule
  description = "Forwards security-group changes to Moat's central buses."
  # The same pattern as the central rule: Moat's own changes stay here.
  event_pattern = jsonencode(jsondecode(templatefile(
    "${path.module}/../../${local.stack.eventPatternFile}",
    { RemediationRole = local.stack.remediationRole },
  )))
}

resource "aws_iam_role" "forward" {
  name = replace(local.stack.eventsRole, "{region}", local.region)
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "events.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account_id }
        ArnEquals    = { "aws:SourceArn" = local.rule_arn }
      }
    }]
  })
}

resource "aws_iam_role_policy" "forward" {
  name = "put-to-central-buses"
  role = aws_iam_role.forward.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "PutToCentralBuses"
      Effect   = "Allow"
      Action   = ["events:PutEvents"]
      Resource = sort(values(var.central_event_bus_arns))
    }]
  })
}

# Events EventBridge could not forward after its retries.
resource "aws_sqs_queue" "dead_letters" {
  name = local.stack.deadLetterQueue
  # SQS-managed encryption: EventBridge can write to it with no key policy,
  # and a customer managed key per member account and region would cost
  # more than this rarely used queue is worth.
  sqs_managed_sse_enabled   = true
  message_retention_seconds = 1209600
}

resource "aws_sqs_queue_policy" "dead_letters" {
  queue_url = aws_sqs_queue.dead_letters.url
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "RuleSendsUndeliveredEvents"
      Effect    = "Allow"
      Principal = { Service = "events.amazonaws.com" }
      Action    = "sqs:SendMessage"
      Resource  = aws_sqs_queue.dead_letters.arn
      Condition = { ArnEquals = { "aws:SourceArn" = aws_cloudwatch_event_rule.forward.arn } }
    }]
  })
}

resource "aws_cloudwatch_event_target" "central" {
  for_each = var.central_event_bus_arns

  rule      = aws_cloudwatch_event_rule.forward.name
  target_id = "moat-${each.key}"
  arn       = each.value
  role_arn  = aws_iam_role.forward.arn

  retry_policy {
    maximum_event_age_in_seconds = 86400
    maximum_retry_attempts       = 185
  }

  dead_letter_config {
    arn = aws_sqs_queue.dead_letters.arn
  }
}

# The role the central detect, remediate and notify functions assume: it may
# read security groups, revoke their rules, put Moat's own tags on them, and
# import findings for this account. Nothing else.
resource "aws_iam_role" "remediation" {
  count = var.create_remediation_role ? 1 : 0

  name = local.stack.remediationRole
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { AWS = var.trusted_role_arns }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "sts:ExternalId" = var.external_id } }
    }]
  })
}

resource "aws_iam_role_policy" "remediation" {
  count = var.create_remediation_role ? 1 : 0

  name = "remediate-security-groups"
  role = aws_iam_role.remediation[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # What crates/moat-aws/src/ec2.rs reads. EC2's Describe calls have
        # no resource-level permissions.
        Sid      = "ReadSecurityGroups"
        Effect   = "Allow"
        Action   = ["ec2:DescribeSecurityGroups", "ec2:DescribeSecurityGroupRules"]
        Resource = "*"
      },
      {
        # Prefix lists in a rule are resolved to CIDRs; AWS-managed ones
        # belong to the account `aws`, so the account is a wildcard.
        Sid      = "ReadPrefixLists"
        Effect   = "Allow"
        Action   = ["ec2:GetManagedPrefixListEntries"]
        Resource = "arn:${local.partition}:ec2:*:*:prefix-list/*"
      },
      {
        Sid      = "RevokeRules"
        Effect   = "Allow"
        Action   = ["ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress"]
        Resource = "arn:${local.partition}:ec2:*:${local.account_id}:security-group/*"
      },
      {
        Sid      = "TagWithMoatKeysOnly"
        Effect   = "Allow"
        Action   = ["ec2:CreateTags"]
        Resource = "arn:${local.partition}:ec2:*:${local.account_id}:security-group/*"
        Condition = {
          "ForAllValues:StringLike" = { "aws:TagKeys" = ["moat:*"] }
        }
      },
      {
        # notify imports findings under this account's default product
        # (crates/moat-domain/src/security_hub.rs).
        Sid      = "ImportFindings"
        Effect   = "Allow"
        Action   = ["securityhub:BatchImportFindings"]
        Resource = "arn:${local.partition}:securityhub:*:${local.account_id}:product/${local.account_id}/default"
      },
    ]
  })
}
