# The member module's invariants against a mocked AWS: the forwarding rule
# has exactly the pattern file's pattern, targets both central buses with a
# dead-letter queue, and the remediation role can do only what Moat calls.

mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  central_event_bus_arns = {
    primary = "arn:aws:events:us-east-1:210987654321:event-bus/moat-security-group-changes"
    dr      = "arn:aws:events:us-west-2:210987654321:event-bus/moat-security-group-changes"
  }
  trusted_role_arns = [
    "arn:aws:iam::210987654321:role/moat-detect-us-east-1",
    "arn:aws:iam::210987654321:role/moat-remediate-us-east-1",
  ]
  external_id = "moat-test-external-id"
}

run "member" {
  command = apply

  assert {
    condition = jsondecode(aws_cloudwatch_event_rule.forward.event_pattern) == jsondecode(replace(
      file("../../eventbridge/security-group-changes.json"), "$${RemediationRole}", jsondecode(file("../../stack.json")).remediationRole,
    ))
    error_message = "The member rule's pattern must be the pattern file with the remediation role filled in."
  }

  assert {
    condition     = !strcontains(aws_cloudwatch_event_rule.forward.event_pattern, "$${")
    error_message = "A placeholder is left in the member rule's pattern."
  }

  assert {
    condition = (
      toset([for target in aws_cloudwatch_event_target.central : target.arn]) == toset(values(var.central_event_bus_arns))
      && alltrue([for target in aws_cloudwatch_event_target.central :
      target.dead_letter_config[0].arn == aws_sqs_queue.dead_letters.arn && target.role_arn == aws_iam_role.forward.arn])
    )
    error_message = "The rule must target both central buses, through the forwarding role, with a dead-letter queue."
  }

  assert {
    condition     = aws_sqs_queue.dead_letters.sqs_managed_sse_enabled
    error_message = "The dead-letter queue must be encrypted."
  }

  assert {
    condition = (
      tolist(jsondecode(aws_iam_role.remediation[0].assume_role_policy).Statement[0].Principal.AWS) == var.trusted_role_arns
      && jsondecode(aws_iam_role.remediation[0].assume_role_policy).Statement[0].Condition.StringEquals["sts:ExternalId"] == var.external_id
    )
    error_message = "Only the central functions' roles may assume the remediation role, and only with the external id."
  }

  assert {
    condition = sort(flatten([for s in jsondecode(aws_iam_role_policy.remediation[0].policy).Statement : s.Action])) == sort([
      "ec2:CreateTags",
      "ec2:DescribeSecurityGroupRules",
      "ec2:DescribeSecurityGroups",
      "ec2:GetManagedPrefixListEntries",
      "ec2:RevokeSecurityGroupEgress",
      "ec2:RevokeSecurityGroupIngress",
      "securityhub:BatchImportFindings",
    ])
    error_message = "The remediation role may do exactly what crates/moat-aws calls in a member account."
  }

  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.remediation[0].policy).Statement :
      s.Resource == "*" ? alltrue([for action in s.Action : startswith(action, "ec2:Describe")]) : true
    ])
    error_message = "Only EC2 Describe calls, which have no resource-level permissions, may act on every resource."
  }

  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.remediation[0].policy).Statement :
      endswith(s.Resource, ":security-group/*") if anytrue([for action in s.Action : contains(["ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress", "ec2:CreateTags"], action)])
    ])
    error_message = "Revokes and tags may touch security groups only."
  }

  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.remediation[0].policy).Statement :
      s.Condition["ForAllValues:StringLike"]["aws:TagKeys"] if contains(s.Action, "ec2:CreateTags")
    ]) == ["moat:*"]
    error_message = "The role may write Moat's own moat: tags only."
  }

  assert {
    condition = alltrue(flatten([
      for document in [aws_iam_role_policy.remediation[0].policy, aws_iam_role_policy.forward.policy, aws_sqs_queue_policy.dead_letters.policy, aws_iam_role.forward.assume_role_policy] : [
        for statement in jsondecode(document).Statement : [for action in flatten([statement.Action]) : !strcontains(action, "*")]
      ]
    ]))
    error_message = "A policy allows a wildcard action."
  }
}

run "forward_only_region" {
  command = plan

  variables {
    create_remediation_role = false
  }

  assert {
    condition     = length(aws_iam_role.remediation) == 0 && length(aws_cloudwatch_event_target.central) == 2
    error_message = "A further region of a member account forwards events without a second remediation role."
  }
}
