//! The backup function: writes the group's full before-state to the records
//! table before anything is revoked.
//!
//! The write is conditional on the group and change, so a second delivery
//! of the same event returns the backup the first one wrote instead of
//! overwriting it with a later (possibly already remediated) state.

use chrono::{DateTime, Utc};
use moat_aws::fencing::ensure_active;
use moat_aws::records::{ActiveRegions, Records, Stored};
use moat_domain::ErrorType;
use moat_domain::event::Change;
use moat_domain::plan::RemediationPlan;
use moat_domain::records::{BackupRecord, BackupRef};
use moat_domain::snapshot::GroupSnapshot;
use serde::{Deserialize, Serialize};

/// The Backup state's `Parameters`: the group as detect read it, the change
/// that made the backup necessary, and the plan it must cover
/// (`$.evaluation.plan`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    pub change: Change,
    pub snapshot: GroupSnapshot,
    pub plan: RemediationPlan,
}

/// Everything backup can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Aws(#[from] moat_aws::Error),
    #[error("the plan is for {plan_group} but the snapshot is of {snapshot_group}")]
    Mismatch {
        plan_group: String,
        snapshot_group: String,
    },
}

impl Error {
    pub fn error_type(&self) -> ErrorType {
        match self {
            Error::Aws(error) => error.error_type(),
            Error::Mismatch { .. } => ErrorType::Invalid,
        }
    }
}

moat_aws::lambda_diagnostic!(Error);

/// What backup needs, built once per cold start.
#[derive(Debug)]
pub struct Deps<R> {
    pub records: R,
    /// The region this function runs in, which the fence is checked for.
    pub region: String,
    pub clock: fn() -> DateTime<Utc>,
}

/// The records backup uses: backups, and the active-region record.
pub trait Store: Records + ActiveRegions {}
impl<T: Records + ActiveRegions> Store for T {}

pub async fn handler<R: Store>(
    deps: &Deps<R>,
    event: lambda_runtime::LambdaEvent<Input>,
) -> Result<BackupRef, Error> {
    backup(deps, event.payload).await
}

pub async fn backup<R: Store>(deps: &Deps<R>, input: Input) -> Result<BackupRef, Error> {
    // A passive region writes nothing: its backup would stand for a
    // remediation that must not happen here.
    // Boxed: inline, the read's future takes this one past the
    // compiler's query depth limit for the layout.
    Box::pin(ensure_active(&deps.records, &deps.region)).await?;
    if input.plan.group_id != input.snapshot.group_id {
        return Err(Error::Mismatch {
            plan_group: input.plan.group_id,
            snapshot_group: input.snapshot.group_id,
        });
    }
    let record = BackupRecord::new(input.change, input.snapshot, input.plan, (deps.clock)());
    let reference = match deps.records.put_backup(&record).await? {
        Stored::Created => record.reference(false),
        Stored::Existing(existing) => existing.reference(true),
    };
    tracing::info!(
        backup_id = %reference.backup_id,
        rules = reference.rule_count,
        already_existed = reference.already_existed,
        "backed up"
    );
    Ok(reference)
}

#[cfg(test)]
mod tests {
    use lambda_runtime::{Context, Diagnostic, LambdaEvent};
    use moat_memory::MemoryRecords;

    use super::*;

    fn input() -> Input {
        let path = format!(
            "{}/../../crates/moat-domain/fixtures/pipeline/detected-ssh-open.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let detected: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let snapshot: GroupSnapshot = serde_json::from_value(detected["snapshot"].clone()).unwrap();
        Input {
            change: serde_json::from_value(detected["change"].clone()).unwrap(),
            plan: RemediationPlan {
                account: snapshot.account.clone(),
                region: snapshot.region.clone(),
                group_id: snapshot.group_id.clone(),
                revoke_ingress: vec!["sgr-0022".into()],
                revoke_egress: vec![],
                lockdown: false,
                dry_run: false,
            },
            snapshot,
        }
    }

    fn deps() -> Deps<MemoryRecords> {
        Deps {
            records: MemoryRecords::default(),
            region: "us-east-1".into(),
            clock: || "2026-11-20T09:15:00Z".parse().unwrap(),
        }
    }

    #[tokio::test]
    async fn a_fenced_region_writes_no_backup() {
        use moat_aws::records::ActiveRegions;
        let deps = deps();
        let now = "2026-11-20T09:00:00Z".parse().unwrap();
        let moved = moat_domain::fencing::next(None, "us-west-2", "oncall", now);
        deps.records.put_active_region(&moved).await.unwrap();
        let diagnostic = Diagnostic::from(backup(&deps, input()).await.unwrap_err());
        assert_eq!(diagnostic.error_type, "Fenced");
        assert!(
            diagnostic.error_message.contains("us-west-2"),
            "{}",
            diagnostic.error_message
        );
        assert!(
            deps.records
                .get_backup("sg-0123456789abcdef0/6d0f0a5c-1b0e-4b5e-9c1a-2f3e4d5c6b7a")
                .await
                .unwrap()
                .is_none()
        );
        let back = moat_domain::fencing::next(Some(&moved), "us-east-1", "oncall", now);
        deps.records.put_active_region(&back).await.unwrap();
        assert!(
            backup(&deps, input()).await.is_ok(),
            "active again at a higher epoch"
        );
    }

    #[tokio::test]
    async fn the_whole_group_is_backed_up_under_group_and_change() {
        let deps = deps();
        let reference = handler(&deps, LambdaEvent::new(input(), Context::default()))
            .await
            .unwrap();
        assert_eq!(
            reference.backup_id,
            "sg-0123456789abcdef0/6d0f0a5c-1b0e-4b5e-9c1a-2f3e4d5c6b7a"
        );
        assert_eq!(reference.rule_count, 3);
        assert!(!reference.already_existed);
        let stored = deps
            .records
            .get_backup(&reference.backup_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.snapshot, input().snapshot);
    }

    #[tokio::test]
    async fn a_second_delivery_keeps_the_first_backup() {
        let deps = deps();
        let first = backup(&deps, input()).await.unwrap();
        let mut again = input();
        again.snapshot.rules.clear();
        let second = backup(&deps, again).await.unwrap();
        assert!(second.already_existed);
        assert_eq!(
            second.rule_count, first.rule_count,
            "the first, fuller backup is kept"
        );
    }

    #[tokio::test]
    async fn a_plan_for_another_group_is_refused() {
        let mut input = input();
        input.plan.group_id = "sg-other".into();
        let diagnostic = Diagnostic::from(backup(&deps(), input).await.unwrap_err());
        assert_eq!(diagnostic.error_type, "Invalid");
    }

    #[tokio::test]
    async fn a_throttled_write_is_reported_as_throttled() {
        let deps = deps();
        deps.records
            .faults
            .fail_next("put_backup", ErrorType::Throttled);
        let diagnostic = Diagnostic::from(backup(&deps, input()).await.unwrap_err());
        assert_eq!(diagnostic.error_type, "Throttled");
    }
}
