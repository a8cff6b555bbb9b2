//! `approve` and `reject` end to end on the local stack: the real state
//! machine and function binaries behind a local Step Functions endpoint,
//! under a policy that sends every finding to review. One approved, one
//! rejected, one never answered (it expires on the virtual clock).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use local_stack::changes::{Actor, Changes, Made, Opening};
use local_stack::endpoint::Endpoint;
use local_stack::pipeline::PipelineOptions;
use local_stack::{LocalStack, RegionStack, StackSpec};
use moat_aws::Aws;
use moat_aws::records::{DynamoRecords, Records};

use super::*;

/// Longer than the executor's answer patience on the virtual clock (30 s)
/// plus the pipeline around the review.
const PATIENCE: Duration = Duration::from_secs(120);

/// The built-in pack with nothing fixed automatically.
fn review_everything() -> String {
    let mut policy: Value = serde_json::from_str(moat_domain::policy::BUILTIN_JSON).unwrap();
    policy["settings"]["autoRemediate"] = false.into();
    policy["settings"]["reviewTimeoutHours"] = 1.into();
    policy.to_string()
}

async fn push_policy(spec: &StackSpec, stack: &RegionStack, body: String) {
    aws_sdk_s3::Client::new(&stack.config)
        .put_object()
        .bucket(&stack.resources.policy_bucket)
        .key(&spec.policy_key)
        .body(body.into_bytes().into())
        .send()
        .await
        .unwrap();
}

async fn open_ssh(changes: &Changes, vpc: &str, name: &str) -> Made {
    let group = changes
        .existing_group(vpc, name, &BTreeMap::new())
        .await
        .unwrap();
    changes
        .authorize_ingress(
            &Actor::developer("dave"),
            &group,
            &Opening::tcp(22, "0.0.0.0/0"),
        )
        .await
        .unwrap()
}

/// Waits until the execution waits for its review.
async fn until_waiting(endpoint: &Endpoint, arn: &str) {
    let started = Instant::now();
    while !matches!(
        review_state(endpoint.client(), arn).await.unwrap(),
        ReviewState::Waiting { .. }
    ) {
        assert!(
            started.elapsed() < PATIENCE,
            "{arn} never waited for a review"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn request(execution: &str, decision: Decision, reason: Option<&str>, yes: bool) -> Request {
    Request {
        execution: execution.to_owned(),
        decision,
        reason: reason.map(str::to_owned),
        yes,
        region: None,
        state_machine: None,
        json: false,
    }
}

async fn audited_review(records: &DynamoRecords, made: &Made) -> ReviewDecision {
    let audit = records
        .get_audit(&made.group_id, made.event_id())
        .await
        .unwrap();
    audit
        .and_then(|audit| audit.review)
        .expect("the decision is in the audit record")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_review_is_approved_rejected_or_expires_and_only_approval_revokes() {
    let (spec, stack) = LocalStack::start_primary().await.unwrap();
    push_policy(&spec, &stack, review_everything()).await;
    let endpoint = Endpoint::start(&spec, &stack, &PipelineOptions::default())
        .await
        .unwrap();
    let changes = Changes::new(&stack);
    let vpc = changes.create_vpc("10.60.0.0/16").await.unwrap();
    let [approved, rejected, unanswered] = [
        open_ssh(&changes, &vpc, "approved").await,
        open_ssh(&changes, &vpc, "rejected").await,
        open_ssh(&changes, &vpc, "unanswered").await,
    ];
    let mut arns = Vec::new();
    for made in [&approved, &rejected, &unanswered] {
        arns.push(
            endpoint
                .start_execution(&made.eventbridge_event(), None)
                .await
                .unwrap(),
        );
    }
    let client = endpoint.client();
    let reviewer = || caller_identity(&stack.config);

    until_waiting(&endpoint, &arns[0]).await;
    let plan = decide(
        client,
        &arns[0],
        &request(&arns[0], Decision::Approved, None, false),
        reviewer,
    )
    .await
    .unwrap();
    assert_eq!(plan.action, Action::Planned);
    assert_eq!(plan.revokes.len(), 1, "{:?}", plan.revokes);
    assert!(
        plan.revokes[0].starts_with(&approved.rule_ids[0]),
        "{:?}",
        plan.revokes
    );
    assert!(plan.deadline.is_some());
    let sent = decide(
        client,
        &arns[0],
        &request(&arns[0], Decision::Approved, Some("no bastion here"), true),
        reviewer,
    )
    .await
    .unwrap();
    assert_eq!(sent.action, Action::Sent);

    until_waiting(&endpoint, &arns[1]).await;
    let name = arns[1].rsplit(':').next().unwrap();
    let sent = decide(
        client,
        &arns[1],
        &request(name, Decision::Rejected, Some("the bastion"), true),
        reviewer,
    )
    .await
    .unwrap();
    assert_eq!(sent.action, Action::Sent);

    let ended: Vec<_> = futures_wait(&endpoint, &arns).await;
    assert_eq!(ended[0].0, "SUCCEEDED", "approved: {:?}", ended[0]);
    assert_eq!(ended[1].0, "SUCCEEDED", "rejected: {:?}", ended[1]);
    assert_eq!(ended[2].0, "FAILED", "unanswered: {:?}", ended[2]);
    assert_eq!(ended[2].1.as_deref(), Some("ReviewExpired"));

    assert!(
        changes
            .ingress_rule_ids(&approved.group_id)
            .await
            .unwrap()
            .is_empty(),
        "approval revokes"
    );
    assert_eq!(
        changes.ingress_rule_ids(&rejected.group_id).await.unwrap(),
        rejected.rule_ids,
        "rejection keeps"
    );
    assert_eq!(
        changes
            .ingress_rule_ids(&unanswered.group_id)
            .await
            .unwrap(),
        unanswered.rule_ids
    );

    let records = DynamoRecords::new(
        &Aws::from_sdk_config(stack.config.clone()),
        &spec.records_table,
    );
    let approval = audited_review(&records, &approved).await;
    assert_eq!(approval.decision, Decision::Approved);
    assert!(
        approval.reviewer.starts_with("arn:aws:"),
        "{}",
        approval.reviewer
    );
    let rejection = audited_review(&records, &rejected).await;
    assert_eq!(rejection.reason.as_deref(), Some("the bastion"));

    let again = decide(
        client,
        &arns[0],
        &request(&arns[0], Decision::Approved, None, true),
        reviewer,
    )
    .await
    .unwrap();
    assert_eq!(
        again.action,
        Action::AlreadyDecided,
        "a repeated approval sends nothing"
    );
    let flip = decide(
        client,
        &arns[0],
        &request(&arns[0], Decision::Rejected, Some("x"), true),
        reviewer,
    )
    .await
    .unwrap_err();
    assert!(flip.to_string().contains("a decision is final"), "{flip}");
    let expired = decide(
        client,
        &arns[2],
        &request(&arns[2], Decision::Approved, None, true),
        reviewer,
    )
    .await
    .unwrap_err();
    assert!(
        expired.to_string().contains("is not waiting for a review"),
        "{expired}"
    );

    let mut escalations = String::new();
    for _ in 0..5 {
        for message in stack.take_escalations(1).await.unwrap() {
            escalations.push_str(&message.to_string());
        }
    }
    assert!(
        escalations.contains("cargo xtask approve"),
        "the review says how to decide"
    );
    assert!(
        escalations.contains("reviewExpired"),
        "the expiry is escalated: {escalations}"
    );
    endpoint.stop().await;
}

/// Each execution's status and error once it has ended.
async fn futures_wait(endpoint: &Endpoint, arns: &[String]) -> Vec<(String, Option<String>)> {
    let mut ended = Vec::new();
    for arn in arns {
        let described = endpoint.wait(arn, PATIENCE).await.unwrap();
        ended.push((
            described.status().as_str().to_owned(),
            described.error().map(str::to_owned),
        ));
    }
    ended
}
