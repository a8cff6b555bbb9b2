//! The remediate function: revokes exactly the planned rules, by rule id,
//! tags the group, re-reads it and records the after-state.
//!
//! It never revokes without a backup: before touching the group it reads
//! the backup it was handed and checks that it is of this group and holds
//! every rule the plan revokes. Revoking a rule that is already gone counts
//! as done, so a retried or duplicated execution converges. A duplicated
//! delivery that finds a rule opened since the first (so not in the first
//! delivery's backup) leaves that rule to its own event or the sweep rather
//! than failing: see `moat_domain::records::covered_by`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use moat_aws::ec2::{Revoked, SecurityGroups};
use moat_aws::fencing::ensure_active;
use moat_aws::records::ActiveRegions;
use moat_aws::records::Records;
use moat_domain::ErrorType;
use moat_domain::evaluation::Evaluation;
use moat_domain::event::Change;
use moat_domain::metrics::{Metrics, REMEDIATED, RULES_REVOKED};
use moat_domain::plan::RemediationPlan;
use moat_domain::records::{
    AuditRecord, BackupRecord, BackupRef, RemediationOutcome, covered_by, verify_backup,
};
use moat_domain::snapshot::{Direction, GroupSnapshot};
use serde::{Deserialize, Serialize};

/// The tag that says when Moat last changed a group.
pub const REMEDIATED_AT_TAG: &str = "moat:remediated-at";
/// The tag that names the backup holding the rules Moat last revoked.
pub const BACKUP_TAG: &str = "moat:backup";

/// The Remediate state's `Parameters`: the plan to carry out
/// (`$.evaluation.plan`) and the backup that must cover it (`$.backup`),
/// with the change, group and evaluation for the audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    pub change: Change,
    /// The group as detect read it, for the audit record.
    pub snapshot: GroupSnapshot,
    pub evaluation: Evaluation,
    pub plan: RemediationPlan,
    pub backup: BackupRef,
}

/// Everything remediate can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Aws(#[from] moat_aws::Error),
    /// Not retried: without a backup Moat must not revoke anything.
    #[error("refusing to revoke from {group_id}: backup {backup_id} {reason}")]
    BackupMissing {
        group_id: String,
        backup_id: String,
        reason: String,
    },
    #[error("group {group_id} disappeared during remediation")]
    GroupGone { group_id: String },
}

impl Error {
    pub fn error_type(&self) -> ErrorType {
        match self {
            Error::Aws(error) => error.error_type(),
            Error::BackupMissing { .. } => ErrorType::BackupMissing,
            Error::GroupGone { .. } => ErrorType::NotFound,
        }
    }
}

moat_aws::lambda_diagnostic!(Error);

/// What remediate needs, built once per cold start.
#[derive(Debug)]
pub struct Deps<G, R> {
    pub groups: G,
    pub records: R,
    /// The region this function runs in, which the fence is checked for.
    pub region: String,
    pub clock: fn() -> DateTime<Utc>,
}

/// The records remediate uses: backups, audits, and the active region.
pub trait Store: Records + ActiveRegions {}
impl<T: Records + ActiveRegions> Store for T {}

/// The step's own metrics: rules revoked, and whether it remediated.
pub fn count(outcome: &Result<RemediationOutcome, Error>, metrics: &mut Metrics) {
    if let Ok(outcome) = outcome {
        metrics.set(RULES_REVOKED, outcome.revoked.len() as f64);
        metrics.set(REMEDIATED, f64::from(u8::from(!outcome.revoked.is_empty())));
    }
}

pub async fn handler<G: SecurityGroups, R: Store>(
    deps: &Deps<G, R>,
    event: lambda_runtime::LambdaEvent<Input>,
) -> Result<RemediationOutcome, Error> {
    remediate(deps, &event.payload).await
}

/// Verifies the backup, revokes, tags, re-reads and records, in that order.
/// Kept as one function so the order that guarantees "nothing is revoked
/// without a backup" reads top to bottom in one screen and a half.
pub async fn remediate<G: SecurityGroups, R: Store>(
    deps: &Deps<G, R>,
    input: &Input,
) -> Result<RemediationOutcome, Error> {
    // Checked again here, not only in backup: a redriven or replayed
    // execution of an old primary may reach this step with its backup
    // already written before the failover.
    // Boxed: inline, the read's future takes this one past the
    // compiler's query depth limit for the layout.
    Box::pin(ensure_active(&deps.records, &deps.region)).await?;
    let backup = read_backup(deps, input).await?;
    let (plan, deferred) = plan_within_backup(input, &backup)?;
    let plan = &plan;

    let mut done = Revoked::default();
    if !plan.dry_run {
        for (direction, rule_ids) in [
            (Direction::Ingress, &plan.revoke_ingress),
            (Direction::Egress, &plan.revoke_egress),
        ] {
            let revoked = deps
                .groups
                .revoke(
                    &plan.account,
                    &plan.region,
                    &plan.group_id,
                    direction,
                    rule_ids,
                )
                .await?;
            done.revoked.extend(revoked.revoked);
            done.already_gone.extend(revoked.already_gone);
        }
    }
    let now = (deps.clock)();
    // Tag whenever the plan revoked something, even if this run found it
    // already gone: a retry after a failure below must still leave the tag
    // that points a person to the backup.
    if !plan.dry_run && !plan.is_empty() {
        let tags = BTreeMap::from([
            (REMEDIATED_AT_TAG.to_owned(), now.to_rfc3339()),
            (BACKUP_TAG.to_owned(), backup.backup_id.clone()),
        ]);
        deps.groups
            .tag(&plan.account, &plan.region, &plan.group_id, &tags)
            .await?;
    }
    let after = deps
        .groups
        .snapshot(&plan.account, &plan.region, &plan.group_id)
        .await?
        .ok_or_else(|| Error::GroupGone {
            group_id: plan.group_id.clone(),
        })?;
    let outcome = RemediationOutcome {
        group_id: plan.group_id.clone(),
        planned: input.plan.rule_ids().map(str::to_owned).collect(),
        revoked: done.revoked,
        already_gone: done.already_gone,
        deferred,
        dry_run: plan.dry_run,
        backup_id: backup.backup_id.clone(),
        after,
        finished_at: now,
    };
    let audit = AuditRecord::new(
        &input.change,
        &input.snapshot,
        &input.evaluation,
        Some(&outcome),
        now,
    );
    deps.records.put_audit(&audit).await?;
    tracing::info!(
        group_id = %plan.group_id,
        revoked = outcome.revoked.len(),
        already_gone = outcome.already_gone.len(),
        deferred = outcome.deferred.len(),
        dry_run = outcome.dry_run,
        rules_after = outcome.after.rules.len(),
        "remediated"
    );
    Ok(outcome)
}

/// The backup the input names, which must exist.
async fn read_backup<G, R: Records>(
    deps: &Deps<G, R>,
    input: &Input,
) -> Result<BackupRecord, Error> {
    deps.records
        .get_backup(&input.backup.backup_id)
        .await?
        .ok_or_else(|| backup_missing(input, "does not exist".into()))
}

/// The plan this run may carry out, and the rules it defers. A backup
/// written for this very delivery must cover the whole plan, or nothing is
/// revoked. A backup an earlier delivery of the change wrote may predate
/// rules opened since: those are deferred, never revoked unbacked.
fn plan_within_backup(
    input: &Input,
    backup: &BackupRecord,
) -> Result<(RemediationPlan, Vec<String>), Error> {
    let (plan, deferred) = if input.backup.already_existed {
        covered_by(backup, &input.plan)
    } else {
        (input.plan.clone(), Vec::new())
    };
    verify_backup(backup, &plan)
        .map_err(|error| backup_missing(input, format!("does not cover the plan: {error}")))?;
    if !deferred.is_empty() {
        tracing::warn!(
            group_id = %plan.group_id,
            backup_id = %backup.backup_id,
            deferred = ?deferred,
            "a repeated delivery found rules its backup does not hold; left to their own events"
        );
    }
    Ok((plan, deferred))
}

fn backup_missing(input: &Input, reason: String) -> Error {
    Error::BackupMissing {
        group_id: input.plan.group_id.clone(),
        backup_id: input.backup.backup_id.clone(),
        reason,
    }
}

#[cfg(test)]
mod tests;
