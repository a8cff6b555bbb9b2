//! What the endpoint remembers: the state machines (each with its tags)
//! and every execution started since the server started, in memory.
//!
//! A machine is replaced whole when it is updated, and an execution keeps
//! the machine it started with, so `DescribeStateMachineForExecution`
//! answers with the definition the execution actually ran.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::watch;

use super::protocol::{ApiError, check_arn};
use crate::asl::StateMachine;
use crate::executor::{ExecutionControl, ExecutionResult};

/// One state machine as `DescribeStateMachine` shows it.
#[derive(Debug, Clone)]
pub(super) struct Machine {
    /// Creation order, for listing and page tokens.
    pub seq: u64,
    pub arn: String,
    pub name: String,
    pub definition: String,
    pub role_arn: String,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub revision_id: String,
    /// `loggingConfiguration`, `tracingConfiguration` and
    /// `encryptionConfiguration`, kept as given and echoed back.
    pub logging: Value,
    pub tracing: Value,
    pub encryption: Value,
    /// The validated definition the executor runs.
    pub parsed: StateMachine,
    pub tags: BTreeMap<String, String>,
}

/// One execution: what it was started with, and how to watch it.
pub(super) struct ExecutionEntry {
    /// Start order, for listing and page tokens.
    pub seq: u64,
    pub name: String,
    /// The machine as it was when the execution started.
    pub machine: Arc<Machine>,
    /// The input as the caller sent it.
    pub input: String,
    pub control: ExecutionControl,
    /// The result, once the execution (or its latest redrive) has ended.
    pub done: watch::Receiver<Option<Arc<ExecutionResult>>>,
    /// How many times it was redriven, and when last.
    pub redrive_count: u32,
    pub redrive_date: Option<DateTime<Utc>>,
}

impl ExecutionEntry {
    /// The result, if the execution has ended.
    pub(super) fn result(&self) -> Option<Arc<ExecutionResult>> {
        self.done.borrow().clone()
    }

    /// Waits until the execution has ended (at once if it has).
    pub(super) async fn ended(&self) -> Option<Arc<ExecutionResult>> {
        let mut done = self.done.clone();
        // An error means the execution's task went away without a result
        // (it panicked); there is nothing more to wait for.
        let _ = done.wait_for(Option::is_some).await;
        self.result()
    }
}

/// `RUNNING` while there is no result, then the status it ended with.
pub(super) fn status(result: Option<&ExecutionResult>) -> String {
    match result {
        None => "RUNNING".to_owned(),
        Some(result) => serde_json::to_value(result.description.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
    }
}

/// Every machine and execution, by ARN.
#[derive(Default)]
pub(super) struct Registry {
    pub machines: HashMap<String, Arc<Machine>>,
    pub executions: HashMap<String, Arc<ExecutionEntry>>,
    next_seq: u64,
}

impl Registry {
    /// The next number in creation order.
    pub(super) fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// The machine an ARN names, or AWS's `StateMachineDoesNotExist`.
    pub(super) fn machine(&self, arn: &str) -> Result<&Arc<Machine>, ApiError> {
        check_arn(arn, "stateMachine")?;
        self.machines.get(arn).ok_or_else(|| {
            ApiError::new(
                "StateMachineDoesNotExist",
                format!("State Machine Does Not Exist: '{arn}'"),
            )
        })
    }

    /// The execution an ARN names, or AWS's `ExecutionDoesNotExist`.
    pub(super) fn execution(&self, arn: &str) -> Result<&Arc<ExecutionEntry>, ApiError> {
        check_arn(arn, "execution")?;
        self.executions.get(arn).ok_or_else(|| {
            ApiError::new(
                "ExecutionDoesNotExist",
                format!("Execution Does Not Exist: '{arn}'"),
            )
        })
    }
}
