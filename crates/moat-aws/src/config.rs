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
use aws_sdk_ec2::config::Credentials;

use moat_domain::arn::partition_of;

use crate::Error;

/// Loads the SDK configuration the standard way: region, endpoint and
/// credentials from the environment or the Lambda execution role.
pub async fn load() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// A configuration for one region of a local stack (moto): its endpoint,
/// its region, and the fixed test credentials moto accepts. Used by tests
/// and local tooling that talk to several regions from one process, where
/// one set of environment variables cannot describe both.
pub async fn local(endpoint_url: &str, region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(endpoint_url)
        .credentials_provider(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "moat-local",
        ))
        .load()
        .await
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
    /// Reads `MOAT_MEMBER_ROLE_NAME` and `MOAT_EXTERNAL_ID`.
    pub fn from_env(session_name: &str) -> MemberAccess {
        MemberAccess {
            role_name: optional_env("MOAT_MEMBER_ROLE_NAME"),
            external_id: optional_env("MOAT_EXTERNAL_ID"),
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
    pub fn new(base: SdkConfig, access: MemberAccess) -> Accounts {
        Accounts {
            base,
            access,
            configs: Mutex::new(HashMap::new()),
        }
    }

    /// The base configuration (the function's own account).
    pub fn base(&self) -> &SdkConfig {
        &self.base
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
