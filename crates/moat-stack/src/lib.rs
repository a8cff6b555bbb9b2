//! The stack description: every name and setting of Moat's resources, read
//! from `infra/stack.json`.
//!
//! Terraform reads the same file with `jsondecode(file(...))`, so a name is
//! written once and every deployment of Moat, in AWS or on the local stack,
//! agrees on it. This crate is plain data: no SDK, no I/O beyond reading the
//! description and the files it points at. The operator commands, the local
//! stack and the tidy tests use it; the Lambda functions never do (they get
//! their settings from environment variables, whose names each function
//! declares and [`FunctionSpec::environment`] maps to settings).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The remediation state machine's state that waits for a person's review
/// decision (`.waitForTaskToken`); `cargo xtask approve` and `reject` find
/// its task token in the history by this name, and a tidy test checks the
/// definition has it.
pub const REVIEW_STATE: &str = "Wait for review";

/// What can go wrong reading the description or filling it in.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error(
        "infra/stack.json: function `{function}` maps {variable} to `{setting}`, which is not a setting ({known})"
    )]
    UnknownSetting {
        function: String,
        variable: String,
        setting: String,
        known: String,
    },
    #[error("infra/stack.json: no function `{0}`")]
    UnknownFunction(String),
}

/// `infra/stack.json`. Names may contain `{account}`, `{region}` and
/// `{function}`; the methods below fill them in.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackSpec {
    pub regions: Regions,
    pub policy_bucket: String,
    pub policy_key: String,
    pub reports_bucket: String,
    pub records_table: String,
    pub notification_topic: String,
    pub escalation_topic: String,
    pub dead_letter_queue: String,
    pub event_bus: String,
    pub event_archive: String,
    pub event_rule: String,
    pub member_event_rule: String,
    pub event_pattern_file: PathBuf,
    pub state_machine: String,
    pub state_machine_file: PathBuf,
    pub state_machine_role: String,
    pub sweep_state_machine: String,
    pub sweep_state_machine_file: PathBuf,
    pub sweep_state_machine_role: String,
    pub events_role: String,
    pub remediation_role: String,
    pub policy_replication_role: String,
    pub dashboard: String,
    pub active_region_parameter: String,
    pub function_name: String,
    pub function_role: String,
    pub function_alias: String,
    pub local: LocalNames,
    pub functions: BTreeMap<String, FunctionSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Regions {
    pub primary: String,
    pub secondary: String,
}

/// Names that exist only on the local stack, where moto needs stand-ins.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalNames {
    /// The SQS queue the EventBridge rule delivers to in place of Step
    /// Functions, which moto does not deliver to.
    pub event_queue: String,
    /// Appended to a topic's name for the queue that reads it back.
    pub inbox_suffix: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionSpec {
    pub timeout_seconds: u64,
    pub memory_mb: u64,
    /// Every environment variable the function reads, and the setting
    /// that fills it.
    pub environment: BTreeMap<String, String>,
}

/// The values of the settings a function's environment is made from, for one
/// deployment in one region. `None` leaves the variable unset, which the
/// functions read as "not configured" (no member role: everything is in the
/// function's own account).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub records_table: String,
    pub policy_bucket: String,
    pub policy_key: String,
    pub reports_bucket: String,
    pub notification_topic_arn: String,
    pub escalation_topic_arn: String,
    pub self_role_arns: String,
    pub member_role_name: Option<String>,
    pub external_id: Option<String>,
    pub security_hub: Option<String>,
}

/// A name that is not one of [`Settings::NAMES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotASetting;

impl Settings {
    /// Every setting's name, as `infra/stack.json` spells it.
    pub const NAMES: &[&str] = &[
        "recordsTable",
        "policyBucket",
        "policyKey",
        "reportsBucket",
        "notificationTopicArn",
        "escalationTopicArn",
        "selfRoleArns",
        "memberRoleName",
        "externalId",
        "securityHub",
    ];

    /// One setting by its name, or `Err` for a name that is not a setting.
    pub fn get(&self, name: &str) -> Result<Option<&str>, NotASetting> {
        Ok(match name {
            "recordsTable" => Some(&self.records_table),
            "policyBucket" => Some(&self.policy_bucket),
            "policyKey" => Some(&self.policy_key),
            "reportsBucket" => Some(&self.reports_bucket),
            "notificationTopicArn" => Some(&self.notification_topic_arn),
            "escalationTopicArn" => Some(&self.escalation_topic_arn),
            "selfRoleArns" => Some(&self.self_role_arns),
            "memberRoleName" => return Ok(self.member_role_name.as_deref()),
            "externalId" => return Ok(self.external_id.as_deref()),
            "securityHub" => return Ok(self.security_hub.as_deref()),
            _ => return Err(NotASetting),
        }
        .map(String::as_str))
    }
}

impl StackSpec {
    /// Reads `infra/stack.json` from this workspace.
    pub fn load() -> Result<StackSpec, Error> {
        Self::load_from(&infra_dir().join("stack.json"))
    }

    pub fn load_from(path: &Path) -> Result<StackSpec, Error> {
        let text = read(path)?;
        serde_json::from_str(&text).map_err(|error| Error::Read {
            path: path.to_owned(),
            message: error.to_string(),
        })
    }

    /// The policy bucket's name in one account and region.
    pub fn policy_bucket_in(&self, account: &str, region: &str) -> String {
        fill(
            &self.policy_bucket,
            &[("account", account), ("region", region)],
        )
    }

    /// The reports bucket's name in one account and region.
    pub fn reports_bucket_in(&self, account: &str, region: &str) -> String {
        fill(
            &self.reports_bucket,
            &[("account", account), ("region", region)],
        )
    }

    /// The sweep state machine's IAM role in one region.
    pub fn sweep_state_machine_role_in(&self, region: &str) -> String {
        fill(&self.sweep_state_machine_role, &[("region", region)])
    }

    /// The path of the sweep state machine's definition.
    pub fn sweep_state_machine_path(&self) -> PathBuf {
        infra_dir().join(&self.sweep_state_machine_file)
    }

    /// The sweep state machine's definition, placeholders and all.
    pub fn sweep_state_machine_definition(&self) -> Result<String, Error> {
        read(&self.sweep_state_machine_path())
    }

    /// The Lambda function's name, e.g. `moat-detect`.
    pub fn function_name_of(&self, function: &str) -> String {
        fill(&self.function_name, &[("function", function)])
    }

    /// The function's IAM role in one region (roles are global, so the
    /// region is part of the name).
    pub fn function_role_of(&self, function: &str, region: &str) -> String {
        fill(
            &self.function_role,
            &[("function", function), ("region", region)],
        )
    }

    /// The state machine's IAM role in one region.
    pub fn state_machine_role_in(&self, region: &str) -> String {
        fill(&self.state_machine_role, &[("region", region)])
    }

    /// The queue that reads a topic back on the local stack.
    pub fn local_inbox_of(&self, topic: &str) -> String {
        format!("{topic}{}", self.local.inbox_suffix)
    }

    /// The ARN pattern of Moat's remediation role in any account: changes
    /// made by it are Moat's own.
    pub fn self_role_pattern(&self) -> String {
        format!("arn:aws:iam::*:role/{}", self.remediation_role)
    }

    /// The production EventBridge pattern, with Moat's role filled in.
    pub fn event_pattern(&self) -> Result<String, Error> {
        let text = read(&infra_dir().join(&self.event_pattern_file))?;
        Ok(text.replace("${RemediationRole}", &self.remediation_role))
    }

    /// The path of the remediation state machine's definition.
    pub fn state_machine_path(&self) -> PathBuf {
        infra_dir().join(&self.state_machine_file)
    }

    /// The state machine definition, placeholders and all.
    pub fn state_machine_definition(&self) -> Result<String, Error> {
        read(&self.state_machine_path())
    }

    /// The environment one function gets from `settings`: exactly the
    /// variables it declares, each from its setting; unset settings leave
    /// the variable out.
    pub fn function_environment(
        &self,
        function: &str,
        settings: &Settings,
    ) -> Result<Vec<(String, String)>, Error> {
        let spec = self
            .functions
            .get(function)
            .ok_or_else(|| Error::UnknownFunction(function.to_owned()))?;
        let mut environment = Vec::new();
        for (variable, setting) in &spec.environment {
            let value = settings
                .get(setting)
                .map_err(|NotASetting| Error::UnknownSetting {
                    function: function.to_owned(),
                    variable: variable.clone(),
                    setting: setting.clone(),
                    known: Settings::NAMES.join(", "),
                })?;
            if let Some(value) = value {
                environment.push((variable.clone(), value.to_owned()));
            }
        }
        Ok(environment)
    }
}

/// The state machine placeholder that holds a function's ARN:
/// `detect` → `DetectFunctionArn`, `notify-owner` → `NotifyOwnerFunctionArn`.
/// Terraform derives the same names (infra/modules/central).
pub fn function_placeholder(function: &str) -> String {
    let camel: String = function
        .split(['-', '_'])
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            let first = chars.next().map(|c| c.to_ascii_uppercase());
            first.into_iter().chain(chars).collect::<String>()
        })
        .collect();
    format!("{camel}FunctionArn")
}

/// The workspace's `infra/` directory.
pub fn infra_dir() -> PathBuf {
    workspace_root().join("infra")
}

/// The workspace's root, found from this crate's location.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/moat-stack sits two levels below the workspace root")
        .to_path_buf()
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|error| Error::Read {
        path: path.to_owned(),
        message: error.to_string(),
    })
}

fn fill(template: &str, values: &[(&str, &str)]) -> String {
    values
        .iter()
        .fold(template.to_owned(), |text, (name, value)| {
            text.replace(&format!("{{{name}}}"), value)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> StackSpec {
        StackSpec::load().unwrap()
    }

    #[test]
    fn names_are_filled_in() {
        let spec = spec();
        assert_eq!(
            spec.policy_bucket_in("123456789012", "us-east-1"),
            "moat-policies-123456789012-us-east-1"
        );
        assert_eq!(spec.function_name_of("detect"), "moat-detect");
        assert!(
            spec.function_role_of("detect", "us-west-2")
                .ends_with("us-west-2")
        );
        assert!(!spec.state_machine_role_in("us-east-1").contains('{'));
    }

    #[test]
    fn function_names_become_placeholders() {
        assert_eq!(function_placeholder("detect"), "DetectFunctionArn");
        assert_eq!(
            function_placeholder("notify-owner"),
            "NotifyOwnerFunctionArn"
        );
        assert_eq!(function_placeholder("a_b"), "ABFunctionArn");
    }

    #[test]
    fn the_event_pattern_names_the_remediation_role() {
        let spec = spec();
        let pattern = spec.event_pattern().unwrap();
        assert!(!pattern.contains("${"), "{pattern}");
        assert!(pattern.contains(&format!(":role/{}", spec.remediation_role)));
        serde_json::from_str::<serde_json::Value>(&pattern).unwrap();
    }

    #[test]
    fn every_function_setting_is_a_setting() {
        let spec = spec();
        for (function, function_spec) in &spec.functions {
            for setting in function_spec.environment.values() {
                assert!(
                    Settings::NAMES.contains(&setting.as_str()),
                    "{function}: {setting} is not a setting"
                );
            }
        }
    }

    #[test]
    fn an_environment_holds_exactly_the_declared_variables() {
        let spec = spec();
        let settings = Settings {
            records_table: "table".into(),
            member_role_name: None,
            ..Settings::default()
        };
        let environment = spec.function_environment("remediate", &settings).unwrap();
        assert_eq!(
            environment,
            vec![("MOAT_TABLE".to_owned(), "table".to_owned())]
        );
        assert!(matches!(
            spec.function_environment("nope", &settings),
            Err(Error::UnknownFunction(_))
        ));
    }

    #[test]
    fn an_unknown_setting_is_named() {
        let mut spec = spec();
        spec.functions
            .get_mut("backup")
            .unwrap()
            .environment
            .insert("MOAT_X".into(), "noSuchSetting".into());
        let error = spec
            .function_environment("backup", &Settings::default())
            .unwrap_err();
        assert!(error.to_string().contains("MOAT_X"), "{error}");
        assert!(error.to_string().contains("noSuchSetting"), "{error}");
    }
}
