//! The policy store through the real pipeline: an invalid upload is never
//! used, the newest valid version judges, and a person is told why.

use std::collections::BTreeMap;
use std::time::Duration;

use local_stack::LocalStack;
use local_stack::changes::{Actor, Changes, Opening};
use local_stack::demo::timeline;
use local_stack::pipeline::{Pipeline, PipelineOptions};
use moat_aws::policy_store::S3PolicySource;
use serde_json::Value;
use sfn_local::ExecutionStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_policy_upload_is_escalated_and_the_last_valid_version_still_judges() {
    let (spec, stack) = LocalStack::start_primary()
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let pipeline = Pipeline::new(&spec, &stack, &PipelineOptions::default())
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let policies = S3PolicySource::new(&moat_aws::Aws::from_sdk_config(stack.config.clone()));
    let bad = r#"{"id": "broken", "version": "2", "rules": [{"id": "x", "ports": [70000]}]}"#;
    policies
        .put(&stack.resources.policy_bucket, &spec.policy_key, bad)
        .await
        .unwrap();

    let changes = Changes::new(&stack);
    let vpc = changes.create_vpc("10.40.0.0/16").await.unwrap();
    let group = changes
        .existing_group(&vpc, "jump", &BTreeMap::new())
        .await
        .unwrap();
    let made = changes
        .authorize_ingress(
            &Actor::developer("carol"),
            &group,
            &Opening::tcp(22, "0.0.0.0/0"),
        )
        .await
        .unwrap();
    let results = pipeline
        .run_delivered(&stack, 1, Duration::from_secs(60))
        .await
        .unwrap();
    pipeline.shutdown().await;

    let result = &results[0];
    assert_eq!(
        result.description.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        result.description
    );
    let states: Vec<String> = timeline(result)
        .into_iter()
        .map(|state| state.name)
        .collect();
    assert!(
        states.contains(&"Report rejected policy".to_owned()),
        "{states:?}"
    );
    assert!(
        states.contains(&"Remediate".to_owned()),
        "the default pack still judged: {states:?}"
    );
    let output = result.output().unwrap();
    assert_eq!(output["evaluation"]["policy"]["id"], "moat-default");
    assert!(
        output["remediation"]["revoked"]
            .as_array()
            .unwrap()
            .contains(&Value::from(made.rule_ids[0].clone()))
    );

    let escalations = stack.take_escalations(5).await.unwrap();
    assert_eq!(escalations.len(), 1);
    let body: Value = serde_json::from_str(escalations[0]["Message"].as_str().unwrap()).unwrap();
    assert_eq!(body["cause"]["kind"], "policyRejected");
    let summary = body["summary"].as_str().unwrap();
    assert!(
        summary.contains("70000"),
        "the validation error is in the message: {summary}"
    );
}
