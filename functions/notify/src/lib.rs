//! The notify function: tells people what Moat saw and did, once per change,
//! writes the change's audit record, and files each finding in Security Hub
//! (updating it to resolved once Moat fixed it).
//!
//! It gets the whole execution state, because what it reports depends on
//! the path taken: a remediation carries a backup and an outcome, a
//! `notify` verdict carries neither.

use chrono::{DateTime, Utc};
use moat_aws::publish::{Published, Publisher, publish_once};
use moat_aws::records::{PublishClaims, Records};
use moat_aws::security_hub::FindingsSink;
use moat_domain::ErrorType;
use moat_domain::evaluation::Evaluation;
use moat_domain::event::Change;
use moat_domain::notification::change_notice;
use moat_domain::records::{AuditRecord, BackupRef, RemediationOutcome};
use moat_domain::security_hub::findings_for;
use moat_domain::snapshot::GroupSnapshot;
use serde::{Deserialize, Serialize};

/// The Notify state's `Parameters`: the whole state document (`$`) and the
/// execution's ARN, which owns the publish claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    pub state: PipelineState,
    /// `$$.Execution.Id`, the execution's ARN: the owner of the publish claim.
    pub execution_arn: String,
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

moat_aws::lambda_diagnostic!(Error);

/// What notify reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notified {
    #[serde(flatten)]
    pub published: Published,
    /// How many Security Hub findings were imported (0 when it is off).
    pub security_hub_findings: usize,
}

/// What notify needs, built once per cold start.
#[derive(Debug)]
pub struct Deps<R, P, F> {
    pub records: R,
    pub publisher: P,
    pub topic_arn: String,
    /// Security Hub, when `MOAT_SECURITY_HUB` is not `disabled`.
    pub findings: Option<F>,
    pub clock: fn() -> DateTime<Utc>,
}

pub async fn handler<R: Records + PublishClaims, P: Publisher, F: FindingsSink>(
    deps: &Deps<R, P, F>,
    event: lambda_runtime::LambdaEvent<Input>,
) -> Result<Notified, Error> {
    notify(deps, &event.payload).await
}

pub async fn notify<R: Records + PublishClaims, P: Publisher, F: FindingsSink>(
    deps: &Deps<R, P, F>,
    input: &Input,
) -> Result<Notified, Error> {
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
        &input.execution_arn,
        now,
    )
    .await?;
    // Importing is an upsert by finding id, so a retry after a failure here
    // re-imports the same findings and publishes nothing twice.
    let mut security_hub_findings = 0;
    if let Some(sink) = &deps.findings {
        let findings = findings_for(
            &state.change,
            &state.snapshot,
            &state.evaluation,
            state.remediation.as_ref(),
            now,
        );
        sink.import(&findings).await?;
        security_hub_findings = findings.len();
    }
    tracing::info!(
        group_id = %state.snapshot.group_id,
        message_id = %published.message_id,
        deduplicated = published.deduplicated,
        security_hub_findings,
        "notified"
    );
    Ok(Notified {
        published,
        security_hub_findings,
    })
}

#[cfg(test)]
mod tests;
