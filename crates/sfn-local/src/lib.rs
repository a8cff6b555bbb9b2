//! A local AWS Step Functions executor: runs the exact Amazon States
//! Language definition AWS runs (the JSONPath query language), with the
//! real Lambda function binaries behind a local Lambda Runtime API and the
//! `sqs`, `sns` and `dynamodb` integrations sent to a local AWS endpoint
//! (moto).
//!
//! ```no_run
//! # async fn demo() -> Result<(), sfn_local::Error> {
//! use std::collections::HashMap;
//! use sfn_local::{Executor, ExecutorConfig, FunctionConfig, StateMachine};
//!
//! let functions = ["detect", "evaluate", "backup", "remediate", "notify", "escalate"];
//! let mut subs: HashMap<String, String> = functions
//!     .iter()
//!     .map(|f| {
//!         let placeholder = format!("{}{}FunctionArn", f[..1].to_uppercase(), &f[1..]);
//!         (placeholder, format!("arn:aws:lambda:us-east-1:123456789012:function:{f}"))
//!     })
//!     .collect();
//! subs.insert(
//!     "DeadLetterQueueUrl".to_owned(),
//!     "http://127.0.0.1:5000/123456789012/dead-letters".to_owned(),
//! );
//! let text = std::fs::read_to_string("statemachines/remediation.asl.json").unwrap();
//! let machine = StateMachine::new("remediation", &text, &subs)?;
//! let executor = Executor::new(ExecutorConfig {
//!     functions: functions
//!         .iter()
//!         .map(|f| FunctionConfig::new(*f, format!("target/debug/{f}")))
//!         .collect(),
//!     aws_endpoint_urls: HashMap::from([("us-east-1".to_owned(), "http://127.0.0.1:5000".to_owned())]),
//!     virtual_time: true,
//!     ..ExecutorConfig::default()
//! });
//! let result = executor.run_to_completion(&machine, Some("run-1"), serde_json::json!({})).await;
//! println!("{:?} {:?}", result.description.status, result.output());
//! # Ok(()) }
//! ```
//!
//! `local-stack`'s `Pipeline` builds the same from `infra/stack.json`, with
//! each function's settings and environment.
//!
//! `Server` serves AWS's Step Functions API (the JSON protocol) on
//! loopback in front of one `Executor`, so `aws-sdk-sfn`, the AWS CLI and
//! Terraform create state machines and run executions locally; the
//! actions it serves are `server::ACTIONS`. `cargo xtask sfn serve` runs it.
//!
//! Invariants: the executor never calls real AWS (a region without a local
//! endpoint fails the task); every function process it starts is killed
//! once the last clone of the `Executor` is dropped, and `shutdown` kills
//! the idle ones at once; the virtual clock only skips Wait states and
//! Retry intervals.
//!
//! `asl::unreachable_states` checks a definition's transitions without
//! running or fully validating it, for tools that read definitions whose
//! placeholders are not filled in.

pub mod asl;
mod choice;
mod clock;
mod error;
mod executor;
mod failure;
mod history;
mod integrations;
mod intrinsics;
mod lambda;
mod path;
mod retry;
pub mod server;
mod template;

use std::collections::HashMap;

use serde_json::Value;

pub use asl::StateMachine;
pub use error::Error;
pub use executor::{
    DescribeExecution, Execution, ExecutionControl, ExecutionResult, ExecutionStatus, Executor,
    ExecutorConfig, MAX_PAYLOAD_BYTES, MapRunCounts, MapRunDescription, MapRunStatus,
    TaskDoesNotExist,
};
pub use history::{HistoryEvent, MAX_HISTORY_EVENTS};
pub use lambda::{FunctionConfig, InvocationReport, LogSink};
pub use server::Server;

impl StateMachine {
    /// Reads a definition, replacing `${Name}` placeholders from
    /// `substitutions`, and validates it as `CreateStateMachine` would.
    pub fn new(
        name: &str,
        definition: &str,
        substitutions: &HashMap<String, String>,
    ) -> Result<Self, Error> {
        let text = substitute(definition, substitutions)?;
        asl::parse(name, &text).map_err(Error::InvalidDefinition)
    }
}

/// Replaces a definition's `${Name}` placeholders from `substitutions`, as
/// Terraform's `templatefile` would; a placeholder without a value is an
/// error that names it.
pub fn substitute(
    definition: &str,
    substitutions: &HashMap<String, String>,
) -> Result<String, Error> {
    asl::substitute(definition, substitutions).map_err(Error::Substitution)
}

/// Reads an execution input: JSON text, as `StartExecution` takes it.
pub fn parse_input(text: &str) -> Result<Value, Error> {
    serde_json::from_str(text).map_err(|e| Error::InvalidInput(e.to_string()))
}

/// A value as AWS writes it into messages and as text parameters take it:
/// a string without its quotes, anything else as JSON.
pub(crate) fn unquoted(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
