//! A failure inside an execution: the `Error` name and `Cause` text that
//! Retry and Catch match, Fail states raise and history events carry.
//!
//! This is data, not a Rust error: a failed execution is a normal outcome of
//! the executor, reported in the result.

use serde_json::{Value, json};

/// Where a failure came from, which decides what `States.BranchFailed`
/// matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Raised by the state itself (a task, a path, an intrinsic).
    State,
    /// Raised inside a Parallel branch or a Map iteration and propagated.
    Branch,
    /// The execution itself ran past its `TimeoutSeconds`: nothing inside
    /// it can retry or catch that, and it ends as `TIMED_OUT`.
    Execution,
}

/// An error name and its cause.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Failure {
    /// The error name, `States.Timeout` or a function's `errorType`; empty
    /// when a Fail state gave none (AWS then reports no error at all).
    pub error: String,
    /// The human-readable cause, when there is one.
    pub cause: Option<String>,
    /// Where it came from.
    pub origin: Origin,
}

impl Failure {
    /// A failure raised by the current state.
    pub(crate) fn new(error: impl Into<String>, cause: impl Into<Option<String>>) -> Self {
        Self {
            error: error.into(),
            cause: cause.into(),
            origin: Origin::State,
        }
    }

    /// `States.Runtime`, which neither Retry nor Catch can handle.
    pub(crate) fn runtime(cause: String) -> Self {
        Self::new("States.Runtime", Some(cause))
    }

    /// The execution ran past the machine's `TimeoutSeconds`.
    pub(crate) fn execution_timed_out() -> Self {
        Self {
            origin: Origin::Execution,
            ..Self::new("States.Timeout", None)
        }
    }

    /// The same failure seen from the state it came out of (`origin`),
    /// except that an execution timeout stays one all the way out.
    pub(crate) fn seen_from(self, origin: Origin) -> Self {
        match self.origin {
            Origin::Execution => self,
            _ => Self { origin, ..self },
        }
    }

    /// The Error Output a Catcher passes on: `{"Error", "Cause"}`, each
    /// only when there is one (a Fail state may set neither).
    pub(crate) fn error_output(&self) -> Value {
        let mut output = json!({});
        if !self.error.is_empty() {
            output["Error"] = json!(self.error);
        }
        if let Some(cause) = &self.cause {
            output["Cause"] = json!(cause);
        }
        output
    }

    /// Whether one `ErrorEquals` entry matches this failure.
    ///
    /// `States.ALL` matches every error except `States.Runtime` and
    /// `States.DataLimitExceeded`, which AWS documents as terminal;
    /// `States.TaskFailed` matches every error except `States.Timeout`.
    /// `States.HeartbeatTimeout` matches a `.waitForTaskToken` Task that
    /// heard no heartbeat in time.
    pub(crate) fn matches(&self, name: &str) -> bool {
        let terminal = self.error == "States.Runtime" || self.error == "States.DataLimitExceeded";
        match name {
            _ if self.error == "States.Runtime" || self.origin == Origin::Execution => false,
            "States.ALL" => !terminal,
            "States.TaskFailed" => !terminal && self.error != "States.Timeout",
            "States.BranchFailed" => !terminal && self.origin == Origin::Branch,
            other => other == self.error,
        }
    }

    /// Whether any entry of an `ErrorEquals` list matches.
    pub(crate) fn matches_any(&self, names: &[String]) -> bool {
        names.iter().any(|n| self.matches(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_leave_out_what_aws_leaves_out() {
        let runtime = Failure::runtime("x".to_owned());
        assert!(!runtime.matches("States.ALL"));
        assert!(!runtime.matches("States.Runtime"));
        let timeout = Failure::new("States.Timeout", None);
        assert!(timeout.matches("States.ALL"));
        assert!(!timeout.matches("States.TaskFailed"));
        let custom = Failure::new("MyError", None);
        assert!(custom.matches("States.TaskFailed"));
        assert!(!custom.matches("States.BranchFailed"));
        let branch = Failure {
            origin: Origin::Branch,
            ..custom
        };
        assert!(branch.matches("States.BranchFailed"));
        assert!(branch.matches("MyError"));
        let expired = Failure::execution_timed_out();
        assert!(!expired.matches("States.ALL"));
        assert!(!expired.matches("States.Timeout"));
        assert_eq!(expired.clone().seen_from(Origin::Branch), expired);
        let heartbeat = Failure::new("States.HeartbeatTimeout", None);
        assert!(heartbeat.matches("States.HeartbeatTimeout"));
        assert!(heartbeat.matches("States.ALL"));
    }
}
