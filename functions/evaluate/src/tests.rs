//! Handler tests: detect's output in, a judgement out, with the policy
//! object in an in-memory versioned store.

use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use moat_domain::evaluation::Verdict;
use moat_memory::MemoryPolicySource;

use super::*;

const BUCKET: &str = "policies";
const KEY: &str = "policy.json";

fn input(name: &str) -> LambdaEvent<Input> {
    let path = format!(
        "{}/../../crates/moat-domain/fixtures/pipeline/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
    LambdaEvent::new(serde_json::from_str(&text).unwrap(), Context::default())
}

fn fixed_clock() -> DateTime<Utc> {
    "2026-11-20T09:15:00Z".parse().unwrap()
}

async fn deps_with(versions: &[&str]) -> Deps<MemoryPolicySource> {
    let source = MemoryPolicySource::default();
    for body in versions {
        source.put(BUCKET, KEY, body).await.unwrap();
    }
    Deps::new(source, BUCKET.into(), KEY.into(), fixed_clock)
}

fn builtin() -> &'static str {
    moat_domain::policy::BUILTIN_JSON
}

#[tokio::test]
async fn ssh_open_to_the_world_is_remediated_by_rule_id() {
    let deps = deps_with(&[builtin()]).await;
    let judgement = handler(&deps, input("detected-ssh-open")).await.unwrap();
    assert_eq!(judgement.evaluation.verdict, Verdict::Remediate);
    assert_eq!(judgement.plan.revoke_ingress, ["sgr-0022"]);
    assert!(judgement.plan.revoke_egress.is_empty());
    assert!(!judgement.needs_review);
    assert_eq!(judgement.policy.id, "moat-default");
    assert_eq!(judgement.policy.version_id.as_deref(), Some("v1"));
    let reasons: Vec<_> = judgement
        .evaluation
        .findings
        .iter()
        .map(|f| f.reason.as_str())
        .collect();
    assert!(
        reasons.iter().any(|reason| reason.contains("EC2.13")),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn a_compliant_group_plans_nothing() {
    let deps = deps_with(&[builtin()]).await;
    let judgement = handler(&deps, input("detected-compliant")).await.unwrap();
    assert_eq!(judgement.evaluation.verdict, Verdict::Compliant);
    assert!(judgement.plan.is_empty());
}

#[tokio::test]
async fn the_output_carries_the_verdict_at_the_top_for_the_choice_state() {
    let deps = deps_with(&[builtin()]).await;
    let judgement = handler(&deps, input("detected-ssh-open")).await.unwrap();
    let json = serde_json::to_value(&judgement).unwrap();
    assert_eq!(json["verdict"], "remediate");
    assert_eq!(json["needsReview"], false);
    assert!(json["policy"].get("rejected").is_none());
}

#[tokio::test]
async fn a_warm_function_does_not_download_an_unchanged_policy() {
    let deps = deps_with(&[builtin()]).await;
    handler(&deps, input("detected-ssh-open")).await.unwrap();
    deps.policies
        .faults
        .fail_next("fetch", ErrorType::AccessDenied);
    handler(&deps, input("detected-ssh-open"))
        .await
        .expect("the cached policy is used while the ETag is unchanged");
}

#[tokio::test]
async fn an_invalid_upload_is_refused_and_the_last_good_version_judges() {
    let deps = deps_with(&[builtin()]).await;
    handler(&deps, input("detected-ssh-open")).await.unwrap();
    deps.policies
        .put(BUCKET, KEY, "{\"rules\": 42}")
        .await
        .unwrap();

    let judgement = handler(&deps, input("detected-ssh-open")).await.unwrap();
    assert_eq!(judgement.evaluation.verdict, Verdict::Remediate);
    assert_eq!(judgement.policy.version_id.as_deref(), Some("v1"));
    let rejected = judgement
        .policy
        .rejected
        .expect("the bad version is reported");
    assert_eq!(rejected.version_id.as_deref(), Some("v2"));
    assert!(
        rejected.error.contains("$"),
        "the error names a JSON path: {}",
        rejected.error
    );
}

#[tokio::test]
async fn a_cold_start_on_an_invalid_version_falls_back_to_the_newest_valid_one() {
    let deps = deps_with(&[builtin(), builtin(), "not json"]).await;
    let judgement = handler(&deps, input("detected-ssh-open")).await.unwrap();
    assert_eq!(judgement.policy.version_id.as_deref(), Some("v2"));
    assert_eq!(
        judgement.policy.rejected.unwrap().version_id.as_deref(),
        Some("v3")
    );
}

#[tokio::test]
async fn no_valid_version_at_all_is_a_config_error() {
    let deps = deps_with(&["not json", "{}"]).await;
    let error = handler(&deps, input("detected-ssh-open"))
        .await
        .unwrap_err();
    let diagnostic = Diagnostic::from(error);
    assert_eq!(diagnostic.error_type, "Config");
    assert!(
        diagnostic
            .error_message
            .contains("s3://policies/policy.json"),
        "{}",
        diagnostic.error_message
    );
}

#[tokio::test]
async fn a_missing_policy_object_is_a_config_error() {
    let deps = deps_with(&[]).await;
    let diagnostic = Diagnostic::from(
        handler(&deps, input("detected-ssh-open"))
            .await
            .unwrap_err(),
    );
    assert_eq!(diagnostic.error_type, "Config");
}

#[tokio::test]
async fn an_upload_that_is_not_text_is_refused_like_an_invalid_one() {
    let deps = deps_with(&[builtin()]).await;
    deps.policies.put_unreadable(BUCKET, KEY).await;
    let judgement = handler(&deps, input("detected-ssh-open")).await.unwrap();
    assert_eq!(judgement.policy.version_id.as_deref(), Some("v1"));
    let rejected = judgement
        .policy
        .rejected
        .expect("the unreadable version is reported");
    assert!(rejected.error.contains("not UTF-8"), "{}", rejected.error);
}

/// The built-in pack with automatic remediation switched off and a short
/// review timeout: every remediate finding becomes a review.
fn review_everything() -> String {
    let mut policy: serde_json::Value = serde_json::from_str(builtin()).unwrap();
    policy["settings"]["autoRemediate"] = false.into();
    policy["settings"]["reviewTimeoutHours"] = 2.into();
    policy.to_string()
}

#[tokio::test]
async fn a_review_carries_what_approval_would_revoke_and_how_long_it_waits() {
    let deps = deps_with(&[&review_everything()]).await;
    let judgement = handler(&deps, input("detected-ssh-open")).await.unwrap();
    assert_eq!(judgement.evaluation.verdict, Verdict::Review);
    assert!(judgement.needs_review);
    assert!(
        judgement.plan.is_empty(),
        "nothing is revoked before a person decides"
    );
    let approved = judgement.review_plan.as_ref().expect("a review plan");
    assert_eq!(approved.revoke_ingress, ["sgr-0022"]);
    assert_eq!(judgement.review_timeout_seconds, 7200);
    let json = serde_json::to_value(&judgement).unwrap();
    assert_eq!(json["reviewPlan"]["revokeIngress"][0], "sgr-0022");
    assert_eq!(json["reviewTimeoutSeconds"], 7200);
}

#[tokio::test]
async fn without_review_findings_there_is_no_review_plan_and_the_default_timeout() {
    let deps = deps_with(&[builtin()]).await;
    let judgement = handler(&deps, input("detected-ssh-open")).await.unwrap();
    assert!(judgement.review_plan.is_none());
    assert_eq!(
        judgement.review_timeout_seconds,
        u64::from(moat_domain::policy::DEFAULT_REVIEW_TIMEOUT_HOURS) * 3600
    );
}

#[tokio::test]
async fn an_operator_lockdown_revokes_all_ingress_even_under_a_review_only_policy() {
    let deps = deps_with(&[&review_everything()]).await;
    let mut event = input("detected-ssh-open");
    let change = &mut event.payload.change;
    change.event_name = EventName::OperatorLockdown;
    change.actor = "arn:aws:iam::111111111111:user/oncall".into();
    change.reason = Some("incident 7".into());
    let judgement = handler(&deps, event.clone()).await.unwrap();
    assert_eq!(judgement.evaluation.verdict, Verdict::Lockdown);
    assert!(!judgement.needs_review);
    let ingress: Vec<_> = event
        .payload
        .snapshot
        .rules_in(moat_domain::snapshot::Direction::Ingress)
        .map(|rule| rule.rule_id.clone())
        .collect();
    assert!(!ingress.is_empty());
    assert_eq!(judgement.plan.revoke_ingress, ingress);
    assert!(judgement.plan.lockdown);
}

#[tokio::test]
async fn a_sweep_batch_is_judged_per_group_and_says_what_to_start() {
    let deps = deps_with(&[builtin()]).await;
    let open: serde_json::Value =
        serde_json::to_value(input("detected-ssh-open").payload.snapshot).unwrap();
    let clean: serde_json::Value =
        serde_json::to_value(input("detected-compliant").payload.snapshot).unwrap();
    let batch = serde_json::json!({
        "BatchInput": {"sweepId": "sweep-7"},
        "Items": [{"snapshot": open}, {"snapshot": clean}, {"snapshot": clean, "openFindings": true}],
    });
    let output = handle(&deps, LambdaEvent::new(batch, Context::default()))
        .await
        .unwrap();
    let judged: BatchJudgement = serde_json::from_value(output).unwrap();
    let actions: Vec<_> = judged.lines.iter().map(|line| line.action).collect();
    use moat_domain::sweep::SweepAction::*;
    assert_eq!(actions, [RemediationStarted, Compliant, Resolved]);
    assert_eq!(judged.remediations.len(), 2);
    assert!(judged.reviews.is_empty());
    assert!(
        judged.remediations[0].name.starts_with("sweep-7-sg-"),
        "{}",
        judged.remediations[0].name
    );
}

#[tokio::test]
async fn a_bad_batch_is_invalid_and_named() {
    let deps = deps_with(&[builtin()]).await;
    let batch = serde_json::json!({"BatchInput": {}, "Items": [{}]});
    let error = handle(&deps, LambdaEvent::new(batch, Context::default()))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("sweep batch"), "{error}");
    assert_eq!(Diagnostic::from(error).error_type, "Invalid");
}

#[test]
fn the_metrics_count_violations_and_a_batchs_groups() {
    let mut metrics = moat_domain::metrics::Metrics::new("evaluate");
    let batch = serde_json::json!({"lines": [{"findings": [{}]}, {"findings": []}, {"findings": [{}]}], "starts": []});
    count(&Ok(batch), &mut metrics);
    let line: serde_json::Value = serde_json::from_str(&metrics.to_emf(0)).unwrap();
    assert_eq!(line["GroupsJudged"], 3.0);
    assert_eq!(line["ViolationsFound"], 2.0);
    let mut one = moat_domain::metrics::Metrics::new("evaluate");
    count(
        &Ok(serde_json::json!({"verdict": "compliant", "findings": []})),
        &mut one,
    );
    let line: serde_json::Value = serde_json::from_str(&one.to_emf(0)).unwrap();
    assert_eq!(line["ViolationsFound"], 0.0);
}
