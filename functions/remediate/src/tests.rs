//! Handler tests: groups and records in memory, the pipeline fixture in.

use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use moat_domain::evaluation::{Action, Finding, Severity};
use moat_domain::records::BackupRecord;
use moat_memory::{MemoryRecords, MemorySecurityGroups};

use super::*;

fn detected() -> (Change, GroupSnapshot) {
    let path = format!(
        "{}/../../crates/moat-domain/fixtures/pipeline/detected-ssh-open.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let detected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    (
        serde_json::from_value(detected["change"].clone()).unwrap(),
        serde_json::from_value(detected["snapshot"].clone()).unwrap(),
    )
}

fn now() -> DateTime<Utc> {
    "2026-11-20T09:15:00Z".parse().unwrap()
}

/// The group in memory, its backup stored, and the input remediate gets.
async fn setup(revoke: &[&str]) -> (Deps<MemorySecurityGroups, MemoryRecords>, Input) {
    let (change, snapshot) = detected();
    let evaluation = Evaluation::from_findings(vec![Finding {
        policy_rule_id: "ec2-13-ssh-open".into(),
        title: "SSH".into(),
        controls: vec!["EC2.13".into()],
        severity: Severity::High,
        action: Action::Remediate,
        security_group_rule_ids: revoke.iter().map(|id| id.to_string()).collect(),
        reason: "tcp/22 open to 0.0.0.0/0 (EC2.13)".into(),
    }]);
    let plan = moat_domain::plan::plan(&snapshot, &evaluation).unwrap();
    let backup = BackupRecord::new(change.clone(), snapshot.clone(), plan.clone(), now());
    let deps = Deps {
        groups: MemorySecurityGroups::with([snapshot.clone()]),
        records: MemoryRecords::default(),
        region: "us-east-1".into(),
        clock: now,
    };
    deps.records.put_backup(&backup).await.unwrap();
    let input = Input {
        change,
        snapshot,
        evaluation,
        plan,
        backup: backup.reference(false),
    };
    (deps, input)
}

#[tokio::test]
async fn revokes_exactly_the_planned_rule_and_records_the_after_state() {
    let (deps, input) = setup(&["sgr-0022"]).await;
    let outcome = handler(&deps, LambdaEvent::new(input.clone(), Context::default()))
        .await
        .unwrap();
    assert_eq!(outcome.revoked, ["sgr-0022"]);
    assert!(outcome.already_gone.is_empty());
    let after = deps.groups.get(&input.plan.group_id).unwrap();
    assert!(after.rule("sgr-0022").is_none());
    assert!(after.rule("sgr-0443").is_some(), "443 is allowed and stays");
    assert_eq!(outcome.after, after);
    assert_eq!(after.tags.get(BACKUP_TAG), Some(&input.backup.backup_id));

    let audit = deps.records.audits();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].revoked, ["sgr-0022"]);
    assert_eq!((audit[0].rules_before, audit[0].rules_after), (3, Some(2)));
}

#[tokio::test]
async fn running_twice_converges_with_the_rule_already_gone() {
    let (deps, input) = setup(&["sgr-0022"]).await;
    remediate(&deps, &input).await.unwrap();
    let second = remediate(&deps, &input).await.unwrap();
    assert!(second.revoked.is_empty());
    assert_eq!(second.already_gone, ["sgr-0022"]);
}

#[tokio::test]
async fn a_retry_after_a_failure_past_the_revoke_still_tags_and_records() {
    let (deps, input) = setup(&["sgr-0022"]).await;
    deps.records
        .faults
        .fail_next("put_audit", ErrorType::Throttled);
    remediate(&deps, &input).await.unwrap_err();
    let retried = remediate(&deps, &input).await.unwrap();
    assert_eq!(retried.already_gone, ["sgr-0022"]);
    let group = deps.groups.get(&input.plan.group_id).unwrap();
    assert_eq!(group.tags.get(BACKUP_TAG), Some(&input.backup.backup_id));
    assert_eq!(deps.records.audits()[0].already_gone, ["sgr-0022"]);
}

#[tokio::test]
async fn without_a_backup_nothing_is_revoked() {
    let (deps, mut input) = setup(&["sgr-0022"]).await;
    input.backup.backup_id = "sg-0123456789abcdef0/some-other-event".into();
    let diagnostic = Diagnostic::from(remediate(&deps, &input).await.unwrap_err());
    assert_eq!(diagnostic.error_type, "BackupMissing");
    assert!(
        deps.groups
            .get(&input.plan.group_id)
            .unwrap()
            .rule("sgr-0022")
            .is_some()
    );
}

#[tokio::test]
async fn a_backup_that_does_not_cover_the_plan_stops_remediation() {
    let (deps, mut input) = setup(&["sgr-0022"]).await;
    input.plan.revoke_ingress.push("sgr-0443".into());
    input.plan.revoke_ingress.push("sgr-not-backed-up".into());
    let diagnostic = Diagnostic::from(remediate(&deps, &input).await.unwrap_err());
    assert_eq!(diagnostic.error_type, "BackupMissing");
    assert!(
        diagnostic.error_message.contains("sgr-not-backed-up"),
        "{}",
        diagnostic.error_message
    );
    let group = deps.groups.get(&input.plan.group_id).unwrap();
    assert_eq!(group.rules.len(), 3, "nothing was revoked");
}

#[tokio::test]
async fn a_dry_run_changes_nothing_and_says_what_it_would_do() {
    let (deps, mut input) = setup(&["sgr-0022"]).await;
    input.plan.dry_run = true;
    let outcome = remediate(&deps, &input).await.unwrap();
    assert!(outcome.dry_run);
    assert!(outcome.revoked.is_empty());
    assert_eq!(outcome.planned, ["sgr-0022"]);
    assert_eq!(
        deps.groups.get(&input.plan.group_id).unwrap().rules.len(),
        3
    );
}

#[tokio::test]
async fn an_ec2_throttle_is_retryable_by_name() {
    let (deps, input) = setup(&["sgr-0022"]).await;
    deps.groups.faults.fail_next("revoke", ErrorType::Throttled);
    let diagnostic = Diagnostic::from(remediate(&deps, &input).await.unwrap_err());
    assert_eq!(diagnostic.error_type, "Throttled");
}

/// A second delivery of the change, after a new world-open rule appeared:
/// the backup the first delivery wrote does not hold the new rule, so it is
/// left for its own event instead of failing the execution with a false
/// `BackupMissing`, and is never revoked unbacked.
#[tokio::test]
async fn a_repeated_delivery_defers_a_rule_opened_since_its_backup() {
    let (deps, mut input) = setup(&["sgr-0022"]).await;
    let mut group = deps.groups.get(&input.plan.group_id).unwrap();
    let mut opened_since = group.rule("sgr-0022").unwrap().clone();
    opened_since.rule_id = "sgr-opened-since".into();
    opened_since.from_port = Some(3389);
    opened_since.to_port = Some(3389);
    group.rules.push(opened_since);
    deps.groups.put(group);
    input.plan.revoke_ingress.push("sgr-opened-since".into());
    input.backup.already_existed = true;

    let outcome = remediate(&deps, &input).await.unwrap();

    assert_eq!(outcome.revoked, ["sgr-0022"]);
    assert_eq!(outcome.deferred, ["sgr-opened-since"]);
    let group = deps.groups.get(&input.plan.group_id).unwrap();
    assert!(
        group.rule("sgr-opened-since").is_some(),
        "not revoked unbacked"
    );
    assert!(group.rule("sgr-0022").is_none());
}

#[tokio::test]
async fn an_old_primary_with_its_backup_written_revokes_nothing_once_fenced() {
    use moat_aws::records::ActiveRegions;
    let (deps, input) = setup(&["sgr-0022"]).await;
    let moved = moat_domain::fencing::next(None, "us-west-2", "oncall", now());
    deps.records.put_active_region(&moved).await.unwrap();
    let error = remediate(&deps, &input).await.unwrap_err();
    assert_eq!(Diagnostic::from(error).error_type, "Fenced");
    let group = deps.groups.get(&input.plan.group_id).unwrap();
    assert!(group.rule("sgr-0022").is_some(), "nothing revoked");
    assert!(deps.records.audits().is_empty());
}
