//! The domain's error enum and the stable error types every Moat crate maps
//! its errors onto.

use serde::{Deserialize, Serialize};

/// The stable names the state machine's Retry and Catch match on. A Lambda
/// function reports one of these as its `errorType`; renaming one breaks the
/// state machine, so the names are part of Moat's interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorType {
    /// AWS asked us to slow down; retry with backoff.
    Throttled,
    /// A transient fault (5xx, timeout, connection reset); retry.
    Retryable,
    /// The thing we were asked about no longer exists.
    NotFound,
    /// We may not do this; retrying will not help.
    AccessDenied,
    /// The input is wrong; retrying will not help.
    Invalid,
    /// Remediation was asked to revoke without a matching backup.
    BackupMissing,
    /// The function is configured wrongly (environment, policy store).
    Config,
    /// Another run holds the claim on this message; wait for it to finish
    /// or for its claim to go stale.
    Busy,
    /// Another region is the active one (a higher epoch): this region must
    /// not back up, revoke or announce anything. Never retried.
    Fenced,
}

impl ErrorType {
    /// Every error type, for tidy checks against the state machine.
    pub const ALL: [ErrorType; 9] = [
        ErrorType::Throttled,
        ErrorType::Retryable,
        ErrorType::NotFound,
        ErrorType::AccessDenied,
        ErrorType::Invalid,
        ErrorType::BackupMissing,
        ErrorType::Config,
        ErrorType::Busy,
        ErrorType::Fenced,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::Throttled => "Throttled",
            ErrorType::Retryable => "Retryable",
            ErrorType::NotFound => "NotFound",
            ErrorType::AccessDenied => "AccessDenied",
            ErrorType::Invalid => "Invalid",
            ErrorType::BackupMissing => "BackupMissing",
            ErrorType::Config => "Config",
            ErrorType::Busy => "Busy",
            ErrorType::Fenced => "Fenced",
        }
    }
}

impl std::fmt::Display for ErrorType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error and all its sources on one line. SDK errors hide the useful
/// part ("connection refused") several sources deep, so every place that
/// reports one (the adapter, the local tooling) prints the whole chain.
pub fn display_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// What can be wrong with the data the domain is given.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// An event, snapshot or record is not what it must be; `at` names where.
    #[error("invalid {what} at {at}: {reason}")]
    Invalid {
        what: &'static str,
        at: String,
        reason: String,
    },
    /// A policy document failed validation. Every problem is listed with its
    /// JSON path, so an operator fixes them all in one pass; the policy store
    /// keeps its last good version when it sees this.
    #[error("invalid policy: {}", crate::policy::Problem::join(.problems))]
    InvalidPolicy {
        problems: Vec<crate::policy::Problem>,
    },
}

impl Error {
    pub fn invalid(what: &'static str, at: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Invalid {
            what,
            at: at.into(),
            reason: reason.into(),
        }
    }

    pub fn error_type(&self) -> ErrorType {
        match self {
            Error::Invalid { .. } | Error::InvalidPolicy { .. } => ErrorType::Invalid,
        }
    }
}
