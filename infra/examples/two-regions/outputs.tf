output "regions" {
  description = "Each region and the role it was deployed with."
  value = {
    primary = { region = module.central_primary.region, role = module.central_primary.region_role }
    dr      = { region = module.central_dr.region, role = module.central_dr.region_role }
  }
}

output "state_machine_arns" {
  description = "The remediation state machine of each region."
  value       = { primary = module.central_primary.state_machine_arn, dr = module.central_dr.state_machine_arn }
}

output "sweep_state_machine_arns" {
  description = "The sweep state machine of each region."
  value       = { primary = module.central_primary.sweep_state_machine_arn, dr = module.central_dr.sweep_state_machine_arn }
}

output "sweep_schedules" {
  description = "The daily sweep schedule of each region; only the primary's is enabled."
  value       = { primary = module.central_primary.sweep_schedule, dr = module.central_dr.sweep_schedule }
}

output "reports_buckets" {
  description = "The reports bucket of each region: sweeps under sweeps/, daily compliance reports under reports/ (replicated to DR)."
  value       = { primary = module.data.regions.primary.reports_bucket_name, dr = module.data.regions.dr.reports_bucket_name }
}

output "event_bus_arns" {
  description = "The central buses: the member module's central_event_bus_arns."
  value       = { primary = module.central_primary.event_bus_arn, dr = module.central_dr.event_bus_arn }
}

output "notification_topic_arns" {
  description = "Subscribe to these for announcements."
  value       = { primary = module.central_primary.notification_topic_arn, dr = module.central_dr.notification_topic_arn }
}

output "escalation_topic_arns" {
  description = "Subscribe to these for what needs a person (reviews, failures, alarms)."
  value       = { primary = module.central_primary.escalation_topic_arn, dr = module.central_dr.escalation_topic_arn }
}

output "records_table" {
  description = "The records global table, the same name in both regions."
  value       = module.data.table_name
}

output "policy_buckets" {
  description = "The policy bucket of each region; push policies to the primary one, it replicates to DR."
  value       = { primary = module.data.regions.primary.bucket_name, dr = module.data.regions.dr.bucket_name }
}

output "member_access_role_arns" {
  description = "The central roles member accounts trust: the member module's trusted_role_arns."
  value       = concat(module.central_primary.member_access_role_arns, module.central_dr.member_access_role_arns)
}

output "dashboards" {
  description = "The CloudWatch dashboard of each region."
  value       = { primary = module.central_primary.dashboard_name, dr = module.central_dr.dashboard_name }
}

output "replica_regions" {
  description = "Where the records table is replicated."
  value       = module.data.replica_regions
}

output "policy_replication" {
  description = "Where the primary policy bucket replicates to."
  value       = module.data.replication
}
