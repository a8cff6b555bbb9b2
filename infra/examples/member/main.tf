# One member account, one region: forward security-group changes to Moat's
# central buses and let the central functions remediate. Apply once per
# region of the account that has security groups (a workspace or a state
# key per region), with create_remediation_role = true in one of them.

provider "aws" {
  region = var.region
  default_tags {
    tags = var.tags
  }
}

module "member" {
  source = "../../modules/member"

  central_event_bus_arns  = var.central_event_bus_arns
  trusted_role_arns       = var.trusted_role_arns
  external_id             = var.external_id
  create_remediation_role = var.create_remediation_role
}
