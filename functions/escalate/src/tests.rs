//! Handler tests: each kind of escalation from the state the state machine
//! passes, with records and publisher in memory.

use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use moat_memory::{MemoryPublisher, MemoryRecords};
use serde_json::json;

use super::*;

const EXECUTION: &str = "arn:aws:states:us-east-1:123456789012:execution:moat-remediation:run-1";

fn deps() -> Deps<MemoryRecords, MemoryPublisher> {
    Deps {
        claims: MemoryRecords::default(),
        publisher: MemoryPublisher::default(),
        topic_arn: "arn:aws:sns:us-east-1:123456789012:moat-escalations".into(),
        region: "us-east-1".into(),
        clock: || "2026-11-20T09:15:00Z".parse().unwrap(),
    }
}

fn input(kind: Kind, state: Value) -> Input {
    Input {
        kind,
        execution_arn: EXECUTION.into(),
        state,
        task_token: None,
    }
}

fn lambda_failure_state() -> Value {
    json!({
        "version": "0",
        "detail-type": "AWS API Call via CloudTrail",
        "failedState": "Remediate",
        "error": {
            "Error": "AccessDenied",
            "Cause": "{\"errorType\":\"AccessDenied\",\"errorMessage\":\"RevokeSecurityGroupIngress failed with UnauthorizedOperation: not allowed\"}"
        }
    })
}

#[tokio::test]
async fn a_failure_names_the_step_the_error_and_links_the_execution() {
    let deps = deps();
    let event = LambdaEvent::new(
        input(Kind::Failure, lambda_failure_state()),
        Context::default(),
    );
    handler(&deps, event).await.unwrap();
    let sent = deps.publisher.published();
    assert_eq!(sent.len(), 1);
    let summary = &sent[0].1.summary;
    assert!(
        summary.contains("Remediate failed with AccessDenied"),
        "{summary}"
    );
    assert!(
        summary.contains("RevokeSecurityGroupIngress failed with UnauthorizedOperation"),
        "{summary}"
    );
    assert!(
        summary.contains("console.aws.amazon.com/states"),
        "{summary}"
    );
}

#[tokio::test]
async fn a_retried_escalation_goes_out_once() {
    let deps = deps();
    escalate(&deps, &input(Kind::Failure, lambda_failure_state()))
        .await
        .unwrap();
    let again = escalate(&deps, &input(Kind::Failure, lambda_failure_state()))
        .await
        .unwrap();
    assert!(again.published.unwrap().deduplicated);
    assert_eq!(deps.publisher.published().len(), 1);
}

#[tokio::test]
async fn a_rejected_policy_is_escalated_once_per_version() {
    let deps = deps();
    let state = json!({"evaluation": {"policy": {"rejected": {
        "location": "s3://moat-policies/policy.json", "etag": "\"e2\"", "versionId": "v2",
        "error": "$.rules: expected an array"
    }}}});
    escalate(&deps, &input(Kind::PolicyRejected, state.clone()))
        .await
        .unwrap();
    let mut other_execution = input(Kind::PolicyRejected, state);
    other_execution.execution_arn = format!("{EXECUTION}-2");
    assert!(
        escalate(&deps, &other_execution)
            .await
            .unwrap()
            .published
            .unwrap()
            .deduplicated
    );
    assert!(
        deps.publisher.published()[0]
            .1
            .summary
            .contains("$.rules: expected an array")
    );
}

#[tokio::test]
async fn a_failure_without_an_error_is_invalid() {
    let diagnostic = Diagnostic::from(
        escalate(&deps(), &input(Kind::Failure, json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!(diagnostic.error_type, "Invalid");
}

#[tokio::test]
async fn a_review_carries_the_review_findings() {
    let deps = deps();
    let state = json!({
        "change": {"eventId": "evt-9", "eventName": "AuthorizeSecurityGroupIngress", "eventTime": "2026-11-20T09:14:03Z",
                   "account": "210987654321", "region": "us-east-1", "actor": "alice", "group": {"by": "id", "groupId": "sg-9"}},
        "evaluation": {"verdict": "review", "findings": [{"policyRuleId": "wide", "title": "t", "controls": [], "severity": "medium",
                       "action": "review", "securityGroupRuleIds": ["sgr-1"], "reason": "tcp/5432 open to 10.0.0.0/8"}]}
    });
    escalate(&deps, &input(Kind::Review, state)).await.unwrap();
    let notice = &deps.publisher.published()[0].1;
    assert!(
        notice.summary.contains("tcp/5432 open to 10.0.0.0/8"),
        "{}",
        notice.summary
    );
    assert_eq!(notice.dedup_key, "escalate/review/evt-9");
}

fn review_state() -> Value {
    json!({
        "change": {"eventId": "evt-9", "eventName": "AuthorizeSecurityGroupIngress", "eventTime": "2026-11-20T09:14:03Z",
                   "account": "210987654321", "region": "us-east-1", "actor": "alice", "group": {"by": "id", "groupId": "sg-9"}},
        "evaluation": {"verdict": "review", "reviewTimeoutSeconds": 7200, "findings": [{"policyRuleId": "wide", "title": "t",
                       "controls": [], "severity": "medium", "action": "review", "securityGroupRuleIds": ["sgr-1"],
                       "reason": "tcp/5432 open to 10.0.0.0/8"}]}
    })
}

#[tokio::test]
async fn a_review_says_by_when_and_the_commands_but_never_the_task_token() {
    let deps = deps();
    let mut waiting = input(Kind::Review, review_state());
    waiting.task_token = Some("secret-token-123".into());
    escalate(&deps, &waiting).await.unwrap();
    let notice = &deps.publisher.published()[0].1;
    assert!(
        notice
            .summary
            .contains("decide by 2026-11-20T11:15:00+00:00"),
        "{}",
        notice.summary
    );
    assert!(
        notice
            .summary
            .contains(&format!("cargo xtask approve {EXECUTION}")),
        "{}",
        notice.summary
    );
    assert_eq!(notice.body["deadline"], "2026-11-20T11:15:00Z");
    let everything = serde_json::to_string(notice).unwrap();
    assert!(!everything.contains("secret-token-123"), "{everything}");
}

#[tokio::test]
async fn an_expired_review_is_escalated_once_more_as_its_own_cause() {
    let deps = deps();
    escalate(&deps, &input(Kind::Review, review_state()))
        .await
        .unwrap();
    escalate(&deps, &input(Kind::ReviewExpired, review_state()))
        .await
        .unwrap();
    let sent = deps.publisher.published();
    assert_eq!(sent.len(), 2, "the expiry is news of its own");
    assert_eq!(sent[1].1.dedup_key, "escalate/reviewExpired/evt-9");
    assert!(
        sent[1]
            .1
            .summary
            .contains("No one approved or rejected in time"),
        "{}",
        sent[1].1.summary
    );
}

#[test]
fn the_waiting_state_payload_reads_as_an_input() {
    let payload = json!({"kind": "review", "executionArn": EXECUTION, "taskToken": "t", "state": review_state()});
    let read: Input = serde_json::from_value(payload).unwrap();
    assert_eq!(read.task_token.as_deref(), Some("t"));
    assert_eq!(
        serde_json::from_value::<Kind>(json!("reviewExpired")).unwrap(),
        Kind::ReviewExpired
    );
}

#[tokio::test]
async fn a_passive_region_escalates_nothing() {
    use moat_aws::records::ActiveRegions;
    let deps = deps();
    let moved = moat_domain::fencing::next(
        None,
        "us-west-2",
        "failover",
        "2026-11-20T09:00:00Z".parse().unwrap(),
    );
    deps.claims.put_active_region(&moved).await.unwrap();
    let escalated = escalate(&deps, &input(Kind::Failure, lambda_failure_state()))
        .await
        .unwrap();
    assert!(escalated.observed_while_passive);
    assert!(escalated.published.is_none());
    assert!(deps.publisher.published().is_empty());
}
