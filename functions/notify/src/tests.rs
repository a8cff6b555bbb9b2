//! Handler tests: records and publisher in memory.

use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use moat_domain::evaluation::{Action, Finding, Severity, Verdict};
use moat_memory::{MemoryFindings, MemoryPublisher, MemoryRecords};

use super::*;

fn state(verdict_action: Option<Action>) -> PipelineState {
    let path = format!(
        "{}/../../crates/moat-domain/fixtures/pipeline/detected-ssh-open.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let detected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let findings = verdict_action
        .map(|action| Finding {
            policy_rule_id: "ec2-13-ssh-open".into(),
            title: "SSH".into(),
            controls: vec!["EC2.13".into()],
            severity: Severity::High,
            action,
            security_group_rule_ids: vec!["sgr-0022".into()],
            reason: "tcp/22 open to 0.0.0.0/0 (EC2.13)".into(),
        })
        .into_iter()
        .collect();
    PipelineState {
        change: serde_json::from_value(detected["change"].clone()).unwrap(),
        snapshot: serde_json::from_value(detected["snapshot"].clone()).unwrap(),
        evaluation: Evaluation::from_findings(findings),
        backup: None,
        remediation: None,
        review: None,
    }
}

fn deps() -> Deps<MemoryRecords, MemoryPublisher, MemoryFindings> {
    Deps {
        records: MemoryRecords::default(),
        publisher: MemoryPublisher::default(),
        topic_arn: "arn:aws:sns:us-east-1:123456789012:moat-notifications".into(),
        findings: Some(MemoryFindings::default()),
        region: "us-east-1".into(),
        clock: || "2026-11-20T09:15:00Z".parse().unwrap(),
    }
}

fn input(state: PipelineState, execution: &str) -> Input {
    Input {
        state,
        execution_arn: execution.into(),
    }
}

#[tokio::test]
async fn a_finding_is_announced_once_with_an_audit_record() {
    let deps = deps();
    let event = LambdaEvent::new(
        input(state(Some(Action::Notify)), "exec-1"),
        Context::default(),
    );
    let notified = handler(&deps, event).await.unwrap();
    assert!(!notified.published.as_ref().unwrap().deduplicated);
    assert_eq!(notified.security_hub_findings, 1);
    let filed = deps.findings.as_ref().unwrap().findings();
    assert_eq!(
        filed[0].compliance_status, "FAILED",
        "a notify finding is left in place"
    );
    let sent = deps.publisher.published();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, deps.topic_arn);
    assert_eq!(sent[0].1.attributes["verdict"], "notify");
    let audits = deps.records.audits();
    assert_eq!(audits.len(), 1);
    assert_eq!(audits[0].verdict, Verdict::Notify);
}

#[tokio::test]
async fn a_duplicate_delivery_publishes_nothing_more() {
    let deps = deps();
    notify(&deps, &input(state(Some(Action::Notify)), "exec-1"))
        .await
        .unwrap();
    let again = notify(&deps, &input(state(Some(Action::Notify)), "exec-2"))
        .await
        .unwrap();
    assert!(again.published.as_ref().unwrap().deduplicated);
    assert_eq!(deps.publisher.published().len(), 1);
    assert_eq!(
        deps.findings.as_ref().unwrap().findings().len(),
        1,
        "re-importing updates the same finding"
    );
}

#[tokio::test]
async fn the_state_without_backup_or_remediation_parses() {
    let json = serde_json::json!({
        "state": serde_json::to_value(state(None)).unwrap(),
        "executionArn": "exec-1",
    });
    let input: Input = serde_json::from_value(json).unwrap();
    assert!(input.state.backup.is_none());
}

#[tokio::test]
async fn a_failed_publish_is_retryable_and_leaves_the_audit_record() {
    let deps = deps();
    deps.publisher
        .faults
        .fail_next("publish", ErrorType::Retryable);
    let diagnostic = Diagnostic::from(
        notify(&deps, &input(state(Some(Action::Notify)), "exec-1"))
            .await
            .unwrap_err(),
    );
    assert_eq!(diagnostic.error_type, "Retryable");
    assert_eq!(deps.records.audits().len(), 1);
    notify(&deps, &input(state(Some(Action::Notify)), "exec-1"))
        .await
        .unwrap();
    assert_eq!(deps.publisher.published().len(), 1);
}

#[tokio::test]
async fn a_failed_import_is_retryable_and_the_retry_publishes_nothing_twice() {
    let deps = deps();
    deps.findings
        .as_ref()
        .unwrap()
        .faults
        .fail_next("import", ErrorType::Throttled);
    let diagnostic = Diagnostic::from(
        notify(&deps, &input(state(Some(Action::Notify)), "exec-1"))
            .await
            .unwrap_err(),
    );
    assert_eq!(diagnostic.error_type, "Throttled");
    notify(&deps, &input(state(Some(Action::Notify)), "exec-1"))
        .await
        .unwrap();
    assert_eq!(deps.publisher.published().len(), 1);
    assert_eq!(deps.findings.as_ref().unwrap().findings().len(), 1);
}

#[tokio::test]
async fn with_security_hub_off_nothing_is_imported() {
    let mut deps = deps();
    deps.findings = None;
    let notified = notify(&deps, &input(state(Some(Action::Notify)), "exec-1"))
        .await
        .unwrap();
    assert_eq!(notified.security_hub_findings, 0);
}

/// A `notify` verdict leaves its finding open; when the group is later
/// judged compliant, the finding is resolved, and the compliant change is
/// audited but not announced.
#[tokio::test]
async fn a_finding_left_open_is_resolved_by_a_later_compliant_judgement() {
    let deps = deps();
    notify(&deps, &input(state(Some(Action::Notify)), "exec-1"))
        .await
        .unwrap();
    let mut compliant = state(None);
    compliant.change.event_id = "a-later-change".into();
    assert_eq!(compliant.evaluation.verdict, Verdict::Compliant);

    let resolved = notify(&deps, &input(compliant.clone(), "exec-2"))
        .await
        .unwrap();

    assert_eq!(resolved.published, None);
    assert_eq!(resolved.resolved_findings, 1);
    let findings = deps.findings.as_ref().unwrap().findings();
    let last = findings.last().unwrap();
    assert_eq!(
        (
            last.compliance_status.as_str(),
            last.workflow_status.as_str()
        ),
        ("PASSED", "RESOLVED")
    );
    assert_eq!(deps.publisher.published().len(), 1, "nothing announced");
    assert_eq!(deps.records.audits().len(), 2, "both changes audited");
    let again = notify(&deps, &input(compliant, "exec-3")).await.unwrap();
    assert_eq!(again.resolved_findings, 0, "resolved once");
}

#[tokio::test]
async fn a_rejected_review_is_audited_and_announced_with_the_reviewer() {
    let deps = deps();
    let mut rejected = state(Some(Action::Review));
    rejected.review = Some(moat_domain::records::ReviewDecision {
        decision: moat_domain::records::Decision::Rejected,
        reviewer: "arn:aws:iam::123456789012:user/bob".into(),
        reason: Some("bastion".into()),
        decided_at: "2026-11-20T10:00:00Z".parse().unwrap(),
    });
    notify(&deps, &input(rejected, "exec-1")).await.unwrap();
    let audits = deps.records.audits();
    let review = audits[0].review.as_ref().expect("the decision is audited");
    assert_eq!(review.reviewer, "arn:aws:iam::123456789012:user/bob");
    assert!(audits[0].revoked.is_empty());
    let sent = deps.publisher.published();
    assert!(
        sent[0].1.subject.contains("review rejected"),
        "{}",
        sent[0].1.subject
    );
    assert!(
        sent[0].1.dedup_key.ends_with("/review-rejected"),
        "{}",
        sent[0].1.dedup_key
    );
}

#[tokio::test]
async fn a_passive_region_records_what_it_saw_and_announces_nothing() {
    use moat_aws::records::ActiveRegions;
    let deps = deps();
    let moved = moat_domain::fencing::next(
        None,
        "us-west-2",
        "oncall",
        "2026-11-20T09:00:00Z".parse().unwrap(),
    );
    deps.records.put_active_region(&moved).await.unwrap();
    let notified = notify(&deps, &input(state(Some(Action::Notify)), "exec-1"))
        .await
        .unwrap();
    assert!(notified.published.is_none());
    assert!(deps.publisher.published().is_empty(), "nothing announced");
    assert!(
        deps.findings.as_ref().unwrap().findings().is_empty(),
        "nothing filed"
    );
    let audits = deps.records.audits();
    assert!(audits[0].observed_while_passive, "observed while passive");
}
