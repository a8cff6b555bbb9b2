//! Handler tests: CloudTrail fixtures in, `Detected` out, with groups in
//! memory.

use std::collections::BTreeMap;

use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use moat_domain::ErrorType;
use moat_domain::snapshot::{Direction, GroupSnapshot, Peer, SecurityGroupRule};
use moat_memory::MemorySecurityGroups;
use serde_json::Value;

use super::*;

fn fixture(name: &str) -> LambdaEvent<Value> {
    let path = format!(
        "{}/../../crates/moat-domain/fixtures/cloudtrail/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
    LambdaEvent::new(serde_json::from_str(&text).unwrap(), Context::default())
}

fn group(group_id: &str, group_name: &str) -> GroupSnapshot {
    GroupSnapshot {
        account: "210987654321".into(),
        region: "us-east-1".into(),
        group_id: group_id.into(),
        group_name: group_name.into(),
        description: String::new(),
        vpc_id: Some("vpc-1".into()),
        tags: BTreeMap::new(),
        rules: vec![SecurityGroupRule {
            rule_id: "sgr-0a1b2c3d4e5f60718".into(),
            direction: Direction::Ingress,
            ip_protocol: "tcp".into(),
            from_port: Some(22),
            to_port: Some(22),
            peer: Peer::Ipv4 {
                cidr: "0.0.0.0/0".into(),
            },
            description: None,
            tags: BTreeMap::new(),
        }],
        prefix_lists: BTreeMap::new(),
    }
}

fn deps(groups: Vec<GroupSnapshot>) -> Deps<MemorySecurityGroups> {
    Deps {
        groups: MemorySecurityGroups::with(groups),
        me: SelfIdentity::parse("arn:aws:iam::*:role/moat-remediation").unwrap(),
    }
}

#[tokio::test]
async fn a_change_comes_out_with_the_groups_current_rules() {
    let deps = deps(vec![group("sg-0123456789abcdef0", "web")]);
    let detected = handler(&deps, fixture("authorize-ingress")).await.unwrap();
    assert_eq!(detected.status, Status::Changed);
    let change = detected.change.unwrap();
    assert_eq!(change.group_id(), Some("sg-0123456789abcdef0"));
    assert_eq!(detected.snapshot.unwrap().rules.len(), 1);
}

#[tokio::test]
async fn a_default_vpc_group_named_only_by_name_is_resolved_to_its_id() {
    let deps = deps(vec![group("sg-0ddd", "launch-wizard-1")]);
    let detected = handler(&deps, fixture("authorize-ingress-default-vpc-by-name"))
        .await
        .unwrap();
    assert_eq!(detected.change.unwrap().group_id(), Some("sg-0ddd"));
    assert_eq!(detected.snapshot.unwrap().group_id, "sg-0ddd");
}

#[tokio::test]
async fn a_group_that_is_gone_is_skipped_as_deleted() {
    let detected = handler(&deps(vec![]), fixture("authorize-ingress"))
        .await
        .unwrap();
    assert_eq!(detected.status, Status::Skipped);
    let skip = detected.skip.unwrap();
    assert_eq!(skip.reason, SkipReason::Deleted);
    assert!(
        skip.detail.contains("sg-0123456789abcdef0"),
        "{}",
        skip.detail
    );
}

#[tokio::test]
async fn moats_own_change_is_skipped_without_reading_the_group() {
    let deps = deps(vec![]);
    deps.groups
        .faults
        .fail_next("snapshot", ErrorType::AccessDenied);
    let detected = handler(&deps, fixture("revoke-ingress-by-moat"))
        .await
        .unwrap();
    assert_eq!(detected.skip.unwrap().reason, SkipReason::SelfMade);
}

#[tokio::test]
async fn skipped_output_is_what_the_state_machine_matches() {
    let detected = handler(&deps(vec![]), fixture("authorize-ingress-failed"))
        .await
        .unwrap();
    let json = serde_json::to_value(&detected).unwrap();
    assert_eq!(json["status"], "skipped");
    assert_eq!(json["skip"]["reason"], "failedCall");
    assert!(json.get("change").is_none());
}

#[tokio::test]
async fn throttling_reaches_lambda_as_the_throttled_error_type() {
    let deps = deps(vec![group("sg-0123456789abcdef0", "web")]);
    deps.groups
        .faults
        .fail_next("snapshot", ErrorType::Throttled);
    let error = handler(&deps, fixture("authorize-ingress"))
        .await
        .unwrap_err();
    let diagnostic = Diagnostic::from(error);
    assert_eq!(diagnostic.error_type, "Throttled");
}

#[tokio::test]
async fn a_bad_event_is_invalid_and_says_where() {
    let mut event = fixture("authorize-ingress");
    event.payload["detail"]["eventName"] = "RunInstances".into();
    let diagnostic = Diagnostic::from(handler(&deps(vec![]), event).await.unwrap_err());
    assert_eq!(diagnostic.error_type, "Invalid");
    assert!(
        diagnostic.error_message.contains("$.detail.eventName"),
        "{}",
        diagnostic.error_message
    );
}

fn lockdown_input(actor: &str) -> Value {
    serde_json::json!({"lockdown": {
        "requestId": "lockdown-sg-1-0a1b", "groupId": "sg-1", "account": "210987654321",
        "region": "us-east-1", "actor": actor, "reason": "incident 42",
        "requestedAt": "2026-11-20T09:00:00Z"}})
}

#[tokio::test]
async fn an_operator_lockdown_is_a_change_of_its_own_even_from_moats_role() {
    let deps = deps(vec![group("sg-1", "app")]);
    // The operator may act through a role Moat also uses; a lockdown is
    // still a request to act, not Moat's own change to skip.
    let actor = "arn:aws:sts::210987654321:assumed-role/moat-remediation/oncall";
    let detected = detect(&deps, &lockdown_input(actor)).await.unwrap();
    assert_eq!(detected.status, Status::Changed);
    let change = detected.change.unwrap();
    assert_eq!(
        change.event_name,
        moat_domain::event::EventName::OperatorLockdown
    );
    assert_eq!(change.event_id, "lockdown-sg-1-0a1b");
    assert_eq!(change.actor, actor);
    assert_eq!(change.reason.as_deref(), Some("incident 42"));
    assert_eq!(detected.snapshot.unwrap().rules.len(), 1);
}

#[tokio::test]
async fn a_lockdown_input_missing_its_reason_is_invalid_and_named() {
    let mut input = lockdown_input("arn:aws:iam::210987654321:user/oncall");
    input["lockdown"].as_object_mut().unwrap().remove("reason");
    let error = detect(&deps(vec![]), &input).await.unwrap_err();
    assert_eq!(Diagnostic::from(error).error_type, "Invalid");
    let error = detect(&deps(vec![]), &input).await.unwrap_err();
    assert!(error.to_string().contains("reason"), "{error}");
}

#[tokio::test]
async fn a_sweep_finding_is_read_again_and_a_group_gone_since_is_skipped() {
    let input = |group: &str| {
        serde_json::json!({"sweep": {
            "requestId": format!("sweep-1-{group}"), "sweepId": "sweep-1", "groupId": group,
            "account": "210987654321", "region": "us-east-1", "judgedAt": "2026-12-01T02:00:00Z"}})
    };
    let deps = deps(vec![group("sg-1", "app")]);
    let detected = detect(&deps, &input("sg-1")).await.unwrap();
    let change = detected.change.unwrap();
    assert_eq!(
        change.event_name,
        moat_domain::event::EventName::SweepFinding
    );
    assert_eq!(change.actor, moat_domain::event::SWEEP_ACTOR);
    assert_eq!(change.event_id, "sweep-1-sg-1");
    let gone = detect(&deps, &input("sg-2")).await.unwrap();
    assert_eq!(gone.status, Status::Skipped);
    assert!(gone.skip.unwrap().detail.contains("sg-2 no longer exists"));
}
