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
pub mod endpoint;
pub mod faults;
pub mod lambda;
pub mod pipeline;
mod provision;
pub mod replicator;

use std::collections::BTreeMap;
use std::path::PathBuf;

use aws_config::SdkConfig;
use local_aws::Moto;
use serde_json::Value;

pub use moat_stack::StackSpec;
pub use provision::Resources;

/// An SDK configuration for `account`, reached from `central` by assuming
/// `role` there, as Moat reaches member accounts; moto, like AWS, answers
/// with that account's credentials. `session` names the session.
pub async fn assumed_config(
    central: &SdkConfig,
    account: &str,
    role: &str,
    session: &str,
) -> Result<SdkConfig, Error> {
    let assumed = aws_sdk_sts::Client::new(central)
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/{role}"))
        .role_session_name(session)
        .send()
        .await
        .map_err(|error| {
            let region = central
                .region()
                .map(ToString::to_string)
                .unwrap_or_default();
            aws_error("AssumeRole", &region, error)
        })?;
    let Some(credentials) = assumed.credentials else {
        return Err(Error::Aws {
            operation: "AssumeRole",
            region: String::new(),
            message: format!("no credentials for {account}/{role}"),
        });
    };
    let credentials = aws_credential_types::Credentials::new(
        credentials.access_key_id,
        credentials.secret_access_key,
        Some(credentials.session_token),
        None,
        "moat-local-assumed-role",
    );
    Ok(central
        .to_builder()
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
        )
        .build())
}

/// moto's account: every resource lives in it.
pub const ACCOUNT: &str = "123456789012";

/// What can go wrong bringing the stack up or using it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Moto(#[from] local_aws::Error),
    #[error(transparent)]
    Stack(#[from] moat_stack::Error),
    #[error("{path}: {message}")]
    Definition { path: PathBuf, message: String },
    #[error(
        "{path}: function binary not built: run `cargo build --workspace --bins` (cargo xtask demo and cargo xtask test do)"
    )]
    MissingBinary { path: PathBuf },
    #[error("{operation} in {region}: {message}")]
    Aws {
        operation: &'static str,
        region: String,
        message: String,
    },
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
    pub fn function_arn(&self, spec: &StackSpec, function: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{ACCOUNT}:function:{}",
            self.region(),
            spec.function_name_of(function)
        )
    }

    /// The local ARN of a state machine of this region.
    pub fn state_machine_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:states:{}:{ACCOUNT}:stateMachine:{name}",
            self.region()
        )
    }

    /// Values for the state machines' `${...}` placeholders.
    pub fn placeholders(&self, spec: &StackSpec) -> BTreeMap<String, String> {
        let mut values: BTreeMap<String, String> = spec
            .functions
            .keys()
            .map(|function| {
                (
                    moat_stack::function_placeholder(function),
                    self.function_arn(spec, function),
                )
            })
            .collect();
        values.insert(
            "DeadLetterQueueUrl".into(),
            self.resources.dead_letter_queue_url.clone(),
        );
        values.insert(
            "RemediationStateMachineArn".into(),
            self.state_machine_arn(&spec.state_machine),
        );
        values
    }

    /// The settings of this region's deployment, from which each function's
    /// environment is made. Locally there is no member role: every group is
    /// in moto's one account.
    pub fn settings(&self, spec: &StackSpec) -> moat_stack::Settings {
        moat_stack::Settings {
            records_table: self.resources.records_table.clone(),
            policy_bucket: self.resources.policy_bucket.clone(),
            policy_key: spec.policy_key.clone(),
            reports_bucket: self.resources.reports_bucket.clone(),
            notification_topic_arn: self.resources.notification_topic_arn.clone(),
            escalation_topic_arn: self.resources.escalation_topic_arn.clone(),
            self_role_arns: spec.self_role_pattern(),
            member_role_name: None,
            external_id: None,
            security_hub: None,
        }
    }

    /// The environment one function gets in this region: where AWS is, and
    /// exactly the variables `infra/stack.json` declares for it.
    pub fn function_env(
        &self,
        spec: &StackSpec,
        function: &str,
    ) -> Result<Vec<(String, String)>, Error> {
        let mut env = self.moto.env();
        env.extend(spec.function_environment(function, &self.settings(spec))?);
        env.push(("RUST_LOG".to_owned(), "info".to_owned()));
        Ok(env)
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
        take_messages(&self.config, self.region(), queue_url, wait_seconds).await
    }
}

/// Takes up to ten messages from an SQS queue, waiting up to
/// `wait_seconds` for the first; each body parsed as JSON where it is.
pub async fn take_messages(
    config: &SdkConfig,
    region: &str,
    queue_url: &str,
    wait_seconds: i32,
) -> Result<Vec<Value>, Error> {
    let sqs = aws_sdk_sqs::Client::new(config);
    let output = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(wait_seconds)
        .send()
        .await
        .map_err(|error| aws_error("ReceiveMessage", region, error))?;
    let mut bodies = Vec::new();
    for message in output.messages.unwrap_or_default() {
        if let Some(handle) = &message.receipt_handle {
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(handle)
                .send()
                .await
                .map_err(|error| aws_error("DeleteMessage", region, error))?;
        }
        let body = message.body.unwrap_or_default();
        bodies.push(serde_json::from_str(&body).unwrap_or(Value::String(body)));
    }
    Ok(bodies)
}

pub(crate) fn aws_error(
    operation: &'static str,
    region: &str,
    error: impl std::error::Error,
) -> Error {
    Error::Aws {
        operation,
        region: region.to_owned(),
        message: moat_domain::error::display_chain(&error),
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
    let config = moto.sdk_config().await;
    let resources = provision::provision(spec, &config, region).await?;
    Ok(RegionStack {
        moto,
        config,
        resources,
    })
}
