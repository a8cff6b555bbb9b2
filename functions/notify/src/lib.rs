//! The notify function: tells people what Moat saw and did, once per change,
//! writes the change's audit record, and files each finding in Security Hub
//! (updating it to resolved once Moat fixed it).
//!
//! A compliant change reaches it too, through the state machine's
//! `Resolve earlier findings` state: nothing is announced then, but the
//! change is audited and the findings an earlier run left open on the group (a `notify`
//! verdict, a dry run) are resolved, as they are whenever a judgement no
//! longer raises them.
//!
//! After a review it runs again with the person's decision (`$.review`):
//! an approval's remediation or a rejection is announced as news of its
//! own and the decision goes into the change's audit record.
//!
//! It gets the whole execution state, because what it reports depends on
//! the path taken: a remediation carries a backup and an outcome, a
//! `notify` verdict carries neither.

use chrono::{DateTime, Utc};
use moat_aws::fencing::standing_of;
use moat_aws::publish::{Published, Publisher, publish_once};
use moat_aws::records::{ActiveRegions, OpenFindings, PublishClaims, Records};
use moat_aws::security_hub::FindingsSink;
use moat_domain::ErrorType;
use moat_domain::evaluation::{Evaluation, Verdict};
use moat_domain::event::Change;
use moat_domain::notification::change_notice;
use moat_domain::records::{AuditRecord, BackupRef, RemediationOutcome, ReviewDecision};
use moat_domain::security_hub::{findings_for, resolved_since, still_open};
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
    /// A person's decision on a review (`$.review`), after `Wait for review`.
    #[serde(default)]
    pub review: Option<ReviewDecision>,
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
    /// The message, unless the change was compliant (nothing to announce).
    #[serde(flatten)]
    pub published: Option<Published>,
    /// How many Security Hub findings were imported (0 when it is off).
    pub security_hub_findings: usize,
    /// How many of those resolved a finding an earlier run left open.
    #[serde(default)]
    pub resolved_findings: usize,
}

/// What notify needs, built once per cold start.
#[derive(Debug)]
pub struct Deps<R, P, F> {
    pub records: R,
    pub publisher: P,
    pub topic_arn: String,
    /// Security Hub, when `MOAT_SECURITY_HUB` is not `disabled`.
    pub findings: Option<F>,
    /// The region this function runs in, which the fence is checked for.
    pub region: String,
    pub clock: fn() -> DateTime<Utc>,
}

/// The stores notify writes to: the records table's parts, and the
/// active-region record it checks.
pub trait Store: Records + PublishClaims + OpenFindings + ActiveRegions {}
impl<T: Records + PublishClaims + OpenFindings + ActiveRegions> Store for T {}

pub async fn handler<R: Store, P: Publisher, F: FindingsSink>(
    deps: &Deps<R, P, F>,
    event: lambda_runtime::LambdaEvent<Input>,
) -> Result<Notified, Error> {
    notify(deps, &event.payload).await
}

pub async fn notify<R: Store, P: Publisher, F: FindingsSink>(
    deps: &Deps<R, P, F>,
    input: &Input,
) -> Result<Notified, Error> {
    let state = &input.state;
    let now = (deps.clock)();
    let standing = Box::pin(standing_of(&deps.records, &deps.region)).await?;
    let audit = AuditRecord {
        review: state.review.clone(),
        observed_while_passive: !standing.may_act(),
        ..AuditRecord::new(
            &state.change,
            &state.snapshot,
            &state.evaluation,
            state.remediation.as_ref(),
            now,
        )
    };
    // The audit record first: if publishing fails for good, the record of
    // what Moat did still exists. A compliant change is recorded too, so
    // the trail shows every change Moat judged.
    deps.records.put_audit(&audit).await?;
    if audit.observed_while_passive {
        // A passive region records what it saw and announces nothing: the
        // active region announces the same change.
        tracing::info!(group_id = %state.snapshot.group_id, "observed while passive");
        return Ok(Notified {
            published: None,
            security_hub_findings: 0,
            resolved_findings: 0,
        });
    }
    if state.evaluation.verdict == Verdict::Compliant {
        let (imported, resolved) = file_findings(deps, state, now).await?;
        tracing::info!(group_id = %state.snapshot.group_id, resolved, "compliant");
        return Ok(Notified {
            published: None,
            security_hub_findings: imported,
            resolved_findings: resolved,
        });
    }
    let notice = change_notice(
        &state.change,
        &state.snapshot,
        &state.evaluation,
        state.backup.as_ref(),
        state.remediation.as_ref(),
        state.review.as_ref(),
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
    let (security_hub_findings, resolved_findings) = file_findings(deps, state, now).await?;
    tracing::info!(
        group_id = %state.snapshot.group_id,
        message_id = %published.message_id,
        deduplicated = published.deduplicated,
        security_hub_findings,
        resolved_findings,
        "notified"
    );
    Ok(Notified {
        published: Some(published),
        security_hub_findings,
        resolved_findings,
    })
}

/// Files this judgement's findings in Security Hub, resolves those an
/// earlier judgement left open that this one no longer raises, and keeps
/// the ones still open for the next. Gives how many were imported and how
/// many of them resolved an earlier one. Importing is an upsert by finding
/// id, so a retry after a failure here re-imports the same findings.
async fn file_findings<R: Store, P, F: FindingsSink>(
    deps: &Deps<R, P, F>,
    state: &PipelineState,
    now: DateTime<Utc>,
) -> Result<(usize, usize), Error> {
    let Some(sink) = &deps.findings else {
        return Ok((0, 0));
    };
    let group_id = &state.snapshot.group_id;
    let raised = findings_for(
        &state.change,
        &state.snapshot,
        &state.evaluation,
        state.remediation.as_ref(),
        now,
    );
    let open_before = deps.records.open_findings(group_id).await?;
    let resolved = resolved_since(&open_before, &raised, &state.change, now);
    let findings: Vec<_> = raised.iter().chain(&resolved).cloned().collect();
    if !findings.is_empty() {
        sink.import(&findings).await?;
    }
    let open_now = still_open(&raised);
    if open_now != open_before {
        deps.records.put_open_findings(group_id, &open_now).await?;
    }
    Ok((findings.len(), resolved.len()))
}

#[cfg(test)]
mod tests;
