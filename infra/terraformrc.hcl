# Terraform CLI configuration for `cargo xtask infra check`, which points
# TF_CLI_CONFIG_FILE here. The check runs offline, so providers come only
# from the machine's filesystem mirror and never from the registry.
# Operators deploying for real use their own CLI configuration (or none).
provider_installation {
  filesystem_mirror {
    path    = "/opt/tf-plugins"
    include = ["registry.terraform.io/hashicorp/*"]
  }
}
