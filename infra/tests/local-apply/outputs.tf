# What tests/terraform_apply.rs checks against the local stack, by region
# (primary, dr).

locals {
  central = { primary = module.central_primary, dr = module.central_dr }
}

output "regions" {
  description = "Each region, the role it was deployed with, and what the test reads back from it."
  value = {
    for name, central in local.central : name => {
      region                   = central.region
      region_role              = central.region_role
      state_machine_arn        = central.state_machine_arn
      state_machine_definition = central.state_machine_definition
      event_bus_arn            = central.event_bus_arn
      event_archive_arn        = central.event_archive_arn
      notification_topic_arn   = central.notification_topic_arn
      escalation_topic_arn     = central.escalation_topic_arn
      dead_letter_queue_url    = central.dead_letter_queue_url
      function_alias_arns      = central.function_alias_arns
      function_role_arns       = central.function_role_arns
      active_region_parameter  = central.active_region_parameter
      dashboard_name           = central.dashboard_name
      records_table            = local.data[name].table_name
      policy_bucket            = local.data[name].bucket_name
      reports_bucket           = local.data[name].reports_bucket_name
      sweep_state_machine_arn  = central.sweep_state_machine_arn
      sweep_definition         = central.sweep_state_machine_definition
      sweep_schedule_name      = central.sweep_schedule.name
      sweep_schedule_state     = central.sweep_schedule.state
      sweep_schedule_input     = central.sweep_schedule.input
    }
  }
}

output "member" {
  description = "The member account's forwarding rule and remediation role."
  value = {
    account_id            = var.member_account_id
    rule_arn              = module.member.rule_arn
    event_pattern         = module.member.event_pattern
    remediation_role_arn  = module.member.remediation_role_arn
    dead_letter_queue_url = module.member.dead_letter_queue_url
  }
}
