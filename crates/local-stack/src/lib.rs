//! Moat's stack on one machine: one moto per region, provisioned from the
//! one description in `infra/stack.json`, and the CloudTrail-shaped events
//! moto cannot emit.
//!
//! Tests, the demo and local rehearsals build on [`LocalStack`]: it starts
//! moto for each region, creates the policy bucket (versioned, with the
//! default policy), the records table, the topics, the dead-letter queue and
//! the EventBridge rule with the production pattern, delivering to an SQS
//! queue that stands in for Step Functions (moto delivers EventBridge events
//! to SQS, not to Step Functions). It also subscribes an inbox queue to each
//! topic so that what Moat announced can be read back.

pub mod changes;
pub mod demo;
pub mod faults;
pub mod pipeline;
mod provision;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use local_aws::Moto;
use moat_aws::SdkConfig;
use serde::Deserialize;
use serde_json::Value;

pub use provision::Resources;

/// moto's account: every resource lives in it.
pub const ACCOUNT: &str = "123456789012";

/// What can go wrong bringing the stack up or using it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Moto(#[from] local_aws::Error),
    #[error("{path}: {message}")]
    Spec { path: PathBuf, message: String },
    #[error("{operation} in {region}: {message}")]
    Aws {
        operation: &'static str,
        region: String,
        message: String,
    },
}

/// `infra/stack.json`: the names of every resource.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackSpec {
    pub regions: Regions,
    /// May contain `{account}` and `{region}`.
    pub policy_bucket: String,
    pub policy_key: String,
    pub records_table: String,
    pub notification_topic: String,
    pub escalation_topic: String,
    pub dead_letter_queue: String,
    pub event_rule: String,
    pub event_pattern_file: PathBuf,
    pub state_machine: String,
    pub state_machine_file: PathBuf,
    pub remediation_role: String,
    pub functions: BTreeMap<String, FunctionSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Regions {
    pub primary: String,
    pub secondary: String,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionSpec {
    pub timeout_seconds: u64,
    pub memory_mb: u64,
}

impl StackSpec {
    /// Reads `infra/stack.json` from the workspace.
    pub fn load() -> Result<StackSpec, Error> {
        Self::load_from(&infra_dir().join("stack.json"))
    }

    pub fn load_from(path: &Path) -> Result<StackSpec, Error> {
        let spec_error = |message: String| Error::Spec {
            path: path.to_owned(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|error| spec_error(error.to_string()))?;
        serde_json::from_str(&text).map_err(|error| spec_error(error.to_string()))
    }

    /// The bucket name in one account and region.
    pub fn policy_bucket_in(&self, account: &str, region: &str) -> String {
        self.policy_bucket
            .replace("{account}", account)
            .replace("{region}", region)
    }

    /// The production EventBridge pattern.
    pub fn event_pattern(&self) -> Result<String, Error> {
        let path = infra_dir().join(&self.event_pattern_file);
        std::fs::read_to_string(&path).map_err(|error| Error::Spec {
            path,
            message: error.to_string(),
        })
    }

    /// The state machine definition, placeholders and all.
    pub fn state_machine_definition(&self) -> Result<String, Error> {
        let path = infra_dir().join(&self.state_machine_file);
        std::fs::read_to_string(&path).map_err(|error| Error::Spec {
            path,
            message: error.to_string(),
        })
    }

    /// The ARN pattern of Moat's remediation role in any account.
    pub fn self_role_pattern(&self) -> String {
        format!("arn:aws:iam::*:role/{}", self.remediation_role)
    }
}

/// The workspace's `infra/` directory.
pub fn infra_dir() -> PathBuf {
    local_aws::workspace_root().join("infra")
}

/// One region of the local stack: its moto and its resources.
#[derive(Debug)]
pub struct RegionStack {
    pub moto: Moto,
    pub config: SdkConfig,
    pub resources: Resources,
}

impl RegionStack {
    pub fn region(&self) -> &str {
        self.moto.region()
    }

    /// The local ARN of one of Moat's functions in this region.
    pub fn function_arn(&self, function: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{ACCOUNT}:function:moat-{function}",
            self.region()
        )
    }

    /// Values for the state machine's `${...}` placeholders.
    pub fn placeholders(&self, spec: &StackSpec) -> BTreeMap<String, String> {
        let mut values: BTreeMap<String, String> = spec
            .functions
            .keys()
            .map(|function| {
                let mut name = function.clone();
                name[..1].make_ascii_uppercase();
                (format!("{name}FunctionArn"), self.function_arn(function))
            })
            .collect();
        values.insert(
            "DeadLetterQueueUrl".into(),
            self.resources.dead_letter_queue_url.clone(),
        );
        values
    }

    /// The environment every function gets in this region: where AWS is
    /// and the names of Moat's resources.
    pub fn function_env(&self, spec: &StackSpec) -> Vec<(String, String)> {
        let mut env = self.moto.env();
        env.extend([
            (
                "MOAT_TABLE".to_owned(),
                self.resources.records_table.clone(),
            ),
            (
                "MOAT_POLICY_BUCKET".to_owned(),
                self.resources.policy_bucket.clone(),
            ),
            ("MOAT_POLICY_KEY".to_owned(), spec.policy_key.clone()),
            (
                "MOAT_TOPIC_ARN".to_owned(),
                self.resources.notification_topic_arn.clone(),
            ),
            (
                "MOAT_ESCALATION_TOPIC_ARN".to_owned(),
                self.resources.escalation_topic_arn.clone(),
            ),
            ("MOAT_SELF_ROLE_ARNS".to_owned(), spec.self_role_pattern()),
            ("RUST_LOG".to_owned(), "info".to_owned()),
        ]);
        env
    }

    /// Takes up to ten EventBridge events the rule delivered, waiting up to
    /// `wait_seconds` for the first.
    pub async fn take_events(&self, wait_seconds: i32) -> Result<Vec<Value>, Error> {
        self.take_messages(&self.resources.event_queue_url, wait_seconds)
            .await
    }

    /// Takes up to ten notifications from the notification topic's inbox,
    /// as the SNS envelopes SQS received.
    pub async fn take_notifications(&self, wait_seconds: i32) -> Result<Vec<Value>, Error> {
        self.take_messages(&self.resources.notification_inbox_url, wait_seconds)
            .await
    }

    /// Takes up to ten escalations from the escalation topic's inbox.
    pub async fn take_escalations(&self, wait_seconds: i32) -> Result<Vec<Value>, Error> {
        self.take_messages(&self.resources.escalation_inbox_url, wait_seconds)
            .await
    }

    /// Takes up to ten dead-letter messages.
    pub async fn take_dead_letters(&self, wait_seconds: i32) -> Result<Vec<Value>, Error> {
        self.take_messages(&self.resources.dead_letter_queue_url, wait_seconds)
            .await
    }

    async fn take_messages(&self, queue_url: &str, wait_seconds: i32) -> Result<Vec<Value>, Error> {
        let sqs = moat_aws::sqs::Client::new(&self.config);
        let output = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait_seconds)
            .send()
            .await
            .map_err(|error| self.aws_error("ReceiveMessage", error))?;
        let mut bodies = Vec::new();
        for message in output.messages.unwrap_or_default() {
            if let Some(handle) = &message.receipt_handle {
                sqs.delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .map_err(|error| self.aws_error("DeleteMessage", error))?;
            }
            let body = message.body.unwrap_or_default();
            bodies.push(serde_json::from_str(&body).unwrap_or(Value::String(body)));
        }
        Ok(bodies)
    }

    pub(crate) fn aws_error(
        &self,
        operation: &'static str,
        error: impl std::error::Error,
    ) -> Error {
        aws_error(operation, self.region(), error)
    }
}

pub(crate) fn aws_error(
    operation: &'static str,
    region: &str,
    error: impl std::error::Error,
) -> Error {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        source = inner.source();
    }
    Error::Aws {
        operation,
        region: region.to_owned(),
        message,
    }
}

/// The whole local stack: every region of `infra/stack.json`.
#[derive(Debug)]
pub struct LocalStack {
    pub spec: StackSpec,
    pub primary: RegionStack,
    pub secondary: RegionStack,
}

impl LocalStack {
    /// Starts moto for both regions and provisions each.
    pub async fn start() -> Result<LocalStack, Error> {
        let spec = StackSpec::load()?;
        let primary = start_region(&spec, &spec.regions.primary).await?;
        let secondary = start_region(&spec, &spec.regions.secondary).await?;
        Ok(LocalStack {
            spec,
            primary,
            secondary,
        })
    }

    /// Starts only the primary region, for tests that need one.
    pub async fn start_primary() -> Result<(StackSpec, RegionStack), Error> {
        let spec = StackSpec::load()?;
        let primary = start_region(&spec, &spec.regions.primary).await?;
        Ok((spec, primary))
    }
}

/// Starts moto for one region and provisions it.
pub async fn start_region(spec: &StackSpec, region: &str) -> Result<RegionStack, Error> {
    let moto = Moto::start(region)?;
    let config = moat_aws::config::local(&moto.endpoint_url(), region).await;
    let resources = provision::provision(spec, &config, region).await?;
    Ok(RegionStack {
        moto,
        config,
        resources,
    })
}
