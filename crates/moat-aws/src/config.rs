//! SDK configuration and per-account access.
//!
//! In Lambda, configuration comes from the standard chain, so the same code
//! talks to AWS in production and to moto locally, where only
//! `AWS_ENDPOINT_URL` differs. Groups live in member accounts: when a member
//! role is configured, Moat assumes it (with the external id) for each
//! account; without one, everything is the function's own account.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_config::{BehaviorVersion, Region, SdkConfig};

use moat_domain::arn::partition_of;

use crate::Error;

/// Where and as whom Moat calls AWS: region, endpoint and credentials,
/// loaded once at cold start. It wraps the SDK's configuration so that the
/// functions build every client through this crate and depend on no SDK
/// crate themselves.
#[derive(Debug, Clone)]
pub struct Aws {
    config: SdkConfig,
}

impl Aws {
    /// Loads the configuration the standard way: region, endpoint and
    /// credentials from the environment or the Lambda execution role.
    /// The region the configuration is for: a function's own region.
    pub fn region(&self) -> Option<String> {
        self.config.region().map(ToString::to_string)
    }

    pub async fn load() -> Aws {
        Aws {
            config: aws_config::defaults(BehaviorVersion::latest()).load().await,
        }
    }

    /// Wraps a configuration that local tooling built itself, such as one
    /// region of the local stack.
    pub fn from_sdk_config(config: SdkConfig) -> Aws {
        Aws { config }
    }

    pub(crate) fn sdk_config(&self) -> &SdkConfig {
        &self.config
    }
}

/// The environment variables Moat's functions read, each name written once.
/// `infra/stack.json` maps every function's variables to the settings that
/// fill them, for Terraform and the local stack; the tidy test
/// `function_environments_match_the_stack` keeps the two in step.
pub mod env {
    pub const TABLE: &str = "MOAT_TABLE";
    pub const POLICY_BUCKET: &str = "MOAT_POLICY_BUCKET";
    pub const POLICY_KEY: &str = "MOAT_POLICY_KEY";
    pub const TOPIC_ARN: &str = "MOAT_TOPIC_ARN";
    pub const ESCALATION_TOPIC_ARN: &str = "MOAT_ESCALATION_TOPIC_ARN";
    pub const SELF_ROLE_ARNS: &str = "MOAT_SELF_ROLE_ARNS";
    pub const MEMBER_ROLE_NAME: &str = "MOAT_MEMBER_ROLE_NAME";
    pub const EXTERNAL_ID: &str = "MOAT_EXTERNAL_ID";
    pub const SECURITY_HUB: &str = "MOAT_SECURITY_HUB";
    pub const REPORTS_BUCKET: &str = "MOAT_REPORTS_BUCKET";

    /// Every constant above by its Rust name, for the tidy test that reads
    /// which ones each function's `main.rs` uses.
    pub const ALL: &[(&str, &str)] = &[
        ("TABLE", TABLE),
        ("POLICY_BUCKET", POLICY_BUCKET),
        ("POLICY_KEY", POLICY_KEY),
        ("TOPIC_ARN", TOPIC_ARN),
        ("ESCALATION_TOPIC_ARN", ESCALATION_TOPIC_ARN),
        ("SELF_ROLE_ARNS", SELF_ROLE_ARNS),
        ("MEMBER_ROLE_NAME", MEMBER_ROLE_NAME),
        ("EXTERNAL_ID", EXTERNAL_ID),
        ("SECURITY_HUB", SECURITY_HUB),
        ("REPORTS_BUCKET", REPORTS_BUCKET),
    ];
}

/// A required environment variable, or a `Config` error naming it.
pub fn required_env(name: &str) -> Result<String, Error> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => Ok(value.trim().to_owned()),
        Ok(_) => Err(Error::Config(format!(
            "environment variable {name} is set but empty"
        ))),
        Err(std::env::VarError::NotPresent) => Err(Error::Config(format!(
            "environment variable {name} is not set"
        ))),
        Err(std::env::VarError::NotUnicode(_)) => Err(Error::Config(format!(
            "environment variable {name} is not valid UTF-8"
        ))),
    }
}

/// An optional environment variable; empty counts as unset.
pub fn optional_env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// How to reach a member account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberAccess {
    /// The role name every member account has for Moat (same name in each).
    /// `None`: groups are in the function's own account.
    pub role_name: Option<String>,
    pub external_id: Option<String>,
    /// The name sessions carry in CloudTrail, e.g. `moat-remediate`.
    pub session_name: String,
}

impl MemberAccess {
    /// The variables [`MemberAccess::from_env`] reads.
    pub const ENVIRONMENT: &[&str] = &[env::MEMBER_ROLE_NAME, env::EXTERNAL_ID];

    /// Reads the member role's name and external id.
    pub fn from_env(session_name: &str) -> MemberAccess {
        MemberAccess {
            role_name: optional_env(env::MEMBER_ROLE_NAME),
            external_id: optional_env(env::EXTERNAL_ID),
            session_name: session_name.to_owned(),
        }
    }
}

/// SDK configurations per (account, region), built once and reused across
/// invocations of a warm function.
#[derive(Debug)]
pub struct Accounts {
    base: SdkConfig,
    access: MemberAccess,
    configs: Mutex<HashMap<(String, String), SdkConfig>>,
}

impl Accounts {
    pub fn new(aws: &Aws, access: MemberAccess) -> Accounts {
        Accounts {
            base: aws.config.clone(),
            access,
            configs: Mutex::new(HashMap::new()),
        }
    }

    /// The configuration for calls into `account` in `region`.
    ///
    /// With a member role, credentials come from `AssumeRole` on
    /// `arn:aws:iam::<account>:role/<role>`; the provider caches and renews
    /// them, so this costs one STS call per account per hour.
    pub async fn config_for(&self, account: &str, region: &str) -> Result<SdkConfig, Error> {
        let key = (account.to_owned(), region.to_owned());
        if let Some(config) = self.lock().get(&key) {
            return Ok(config.clone());
        }
        let region = Region::new(region.to_owned());
        let config = match &self.access.role_name {
            None => self.base.to_builder().region(region).build(),
            Some(role_name) => {
                if !is_account_id(account) {
                    return Err(Error::Config(format!(
                        "cannot assume a role in `{account}`: not a 12-digit account id"
                    )));
                }
                let partition = partition_of(region.as_ref());
                let role_arn = format!("arn:{partition}:iam::{account}:role/{role_name}");
                let mut provider = aws_config::sts::AssumeRoleProvider::builder(role_arn)
                    .session_name(self.access.session_name.clone())
                    .region(region.clone())
                    .configure(&self.base);
                if let Some(external_id) = &self.access.external_id {
                    provider = provider.external_id(external_id.clone());
                }
                let provider = provider.build().await;
                self.base
                    .to_builder()
                    .region(region)
                    .credentials_provider(aws_sdk_ec2::config::SharedCredentialsProvider::new(
                        provider,
                    ))
                    .build()
            }
        };
        self.lock().insert(key, config.clone());
        Ok(config)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), SdkConfig>> {
        // A panic while holding the lock cannot leave the map inconsistent
        // (inserts are single calls), so a poisoned lock is still usable.
        self.configs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn is_account_id(account: &str) -> bool {
    account.len() == 12 && account.bytes().all(|byte| byte.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_are_twelve_digits() {
        assert!(is_account_id("123456789012"));
        assert!(!is_account_id("12345678901"));
        assert!(!is_account_id("12345678901x"));
    }

    #[test]
    fn a_missing_variable_is_named() {
        let error = required_env("MOAT_SURELY_NOT_SET_ANYWHERE").unwrap_err();
        assert_eq!(
            error.to_string(),
            "configuration: environment variable MOAT_SURELY_NOT_SET_ANYWHERE is not set"
        );
        assert_eq!(error.error_type(), moat_domain::ErrorType::Config);
    }
}
