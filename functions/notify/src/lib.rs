//! The notify function: tells people what Moat saw and did, once per change,
//! and writes the change's audit record.
//!
//! It gets the whole execution state, because what it reports depends on
//! the path taken: a remediation carries a backup and an outcome, a
//! `notify` verdict carries neither.

use chrono::{DateTime, Utc};
use moat_aws::publish::{Published, Publisher, publish_once};
use moat_aws::records::Records;
use moat_domain::ErrorType;
use moat_domain::evaluation::Evaluation;
use moat_domain::event::Change;
use moat_domain::notification::change_notice;
use moat_domain::records::{AuditRecord, BackupRef, RemediationOutcome};
use moat_domain::snapshot::GroupSnapshot;
use serde::{Deserialize, Serialize};

/// What notify is given: the execution state and the execution's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    pub state: PipelineState,
    /// `$$.Execution.Id`: the owner of the publish claim.
    pub execution_id: String,
}

/// The parts of the execution state notify reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineState {
    pub change: Change,
    pub snapshot: GroupSnapshot,
    pub evaluation: Evaluation,
    #[serde(default)]
    pub backup: Option<BackupRef>,
    #[serde(default)]
    pub remediation: Option<RemediationOutcome>,
}

/// Everything notify can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Aws(#[from] moat_aws::Error),
}

impl Error {
    pub fn error_type(&self) -> ErrorType {
        match self {
            Error::Aws(error) => error.error_type(),
        }
    }
}

impl From<Error> for lambda_runtime::Diagnostic {
    fn from(error: Error) -> Self {
        lambda_runtime::Diagnostic {
            error_type: error.error_type().as_str().to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// What notify needs, built once per cold start.
#[derive(Debug)]
pub struct Deps<R, P> {
    pub records: R,
    pub publisher: P,
    pub topic_arn: String,
    pub clock: fn() -> DateTime<Utc>,
}

pub async fn handler<R: Records, P: Publisher>(
    deps: &Deps<R, P>,
    event: lambda_runtime::LambdaEvent<Input>,
) -> Result<Published, Error> {
    notify(deps, &event.payload).await
}

pub async fn notify<R: Records, P: Publisher>(
    deps: &Deps<R, P>,
    input: &Input,
) -> Result<Published, Error> {
    let state = &input.state;
    let now = (deps.clock)();
    let audit = AuditRecord::new(
        &state.change,
        &state.snapshot,
        &state.evaluation,
        state.remediation.as_ref(),
        now,
    );
    // The audit record first: if publishing fails for good, the record of
    // what Moat did still exists.
    deps.records.put_audit(&audit).await?;
    let notice = change_notice(
        &state.change,
        &state.snapshot,
        &state.evaluation,
        state.backup.as_ref(),
        state.remediation.as_ref(),
    );
    let published = publish_once(
        &deps.records,
        &deps.publisher,
        &deps.topic_arn,
        &notice,
        &input.execution_id,
        now,
    )
    .await?;
    tracing::info!(
        group_id = %state.snapshot.group_id,
        message_id = %published.message_id,
        deduplicated = published.deduplicated,
        "notified"
    );
    Ok(published)
}

#[cfg(test)]
mod tests;
