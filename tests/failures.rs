//! Failure paths through the real state machine: AWS failing the way it
//! does in production, injected on the wire by a proxy in front of moto, so
//! the functions under test are the binaries that ship.

use std::collections::BTreeMap;
use std::time::Duration;

use local_stack::changes::{Actor, Changes, Made, Opening};
use local_stack::faults::{Fault, FaultProxy};
use local_stack::pipeline::{Pipeline, PipelineOptions};
use local_stack::{LocalStack, RegionStack, StackSpec};
use moat_aws::records::{DynamoRecords, Records};
use serde_json::Value;
use sfn_local::{ExecutionResult, ExecutionStatus};

/// One region, one group opened to SSH from the internet, the proxy in
/// front of moto with `faults`, and the pipeline's execution of the change.
struct Run {
    spec: StackSpec,
    stack: RegionStack,
    proxy: FaultProxy,
    made: Made,
    result: ExecutionResult,
}

async fn run_with(faults: Vec<Fault>) -> Run {
    let (spec, stack) = LocalStack::start_primary()
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let proxy = FaultProxy::start(&stack.moto.endpoint_url()).await.unwrap();
    for fault in faults {
        proxy.inject(fault);
    }
    let options = PipelineOptions {
        extra_env: vec![
            ("AWS_ENDPOINT_URL".into(), proxy.endpoint_url()),
            // One SDK attempt per invocation, so each injected fault fails
            // one Lambda invocation and the state machine's Retry shows.
            ("AWS_MAX_ATTEMPTS".into(), "1".into()),
        ],
        ..PipelineOptions::default()
    };
    let pipeline = Pipeline::new(&spec, &stack, &options)
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let changes = Changes::new(&stack);
    let vpc = changes.create_vpc("10.30.0.0/16").await.unwrap();
    let group = changes
        .existing_group(&vpc, "bastion", &BTreeMap::new())
        .await
        .unwrap();
    let made = changes
        .authorize_ingress(
            &Actor::developer("bob"),
            &group,
            &Opening::tcp(22, "0.0.0.0/0"),
        )
        .await
        .unwrap();
    let mut results = pipeline
        .run_delivered(&stack, 1, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(results.len(), 1, "the change was delivered once");
    pipeline.shutdown().await;
    Run {
        spec,
        stack,
        proxy,
        made,
        result: results.remove(0),
    }
}

/// The errors of the failed Lambda invocations in one state, in order.
fn failures_in(result: &ExecutionResult, state: &str) -> Vec<String> {
    let mut current = String::new();
    let mut errors = Vec::new();
    for event in &result.events {
        let details = event.details.clone().unwrap_or(Value::Null);
        if event.event_type.ends_with("StateEntered") {
            current = details["name"].as_str().unwrap_or_default().to_owned();
        }
        if event.event_type == "LambdaFunctionFailed" && current == state {
            errors.push(details["error"].as_str().unwrap_or_default().to_owned());
        }
    }
    errors
}

async fn rule_is_open(run: &Run) -> bool {
    let ec2 = aws_sdk_ec2::Client::new(&run.stack.config);
    let rules = ec2
        .describe_security_group_rules()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("group-id")
                .values(&run.made.group_id)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .security_group_rules
        .unwrap_or_default();
    rules
        .iter()
        .any(|rule| rule.security_group_rule_id.as_deref() == Some(run.made.rule_ids[0].as_str()))
}

async fn backups(run: &Run) -> usize {
    DynamoRecords::new(
        &moat_aws::Aws::from_sdk_config(run.stack.config.clone()),
        &run.spec.records_table,
    )
    .backups_of(&run.made.group_id)
    .await
    .unwrap()
    .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_failure_twice_is_retried_and_then_succeeds() {
    let run = run_with(vec![Fault::dynamodb_internal_error("PutItem", 2)]).await;

    assert_eq!(
        run.result.description.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        run.result.description
    );
    assert_eq!(
        failures_in(&run.result, "Backup"),
        ["Retryable", "Retryable"]
    );
    assert_eq!(run.proxy.injected().len(), 2);
    assert!(
        !rule_is_open(&run).await,
        "the rule was revoked after the retries"
    );
    assert_eq!(backups(&run).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ec2_throttling_is_retried_with_backoff_until_it_passes() {
    let run = run_with(vec![Fault::ec2_throttling("RevokeSecurityGroupIngress", 3)]).await;

    assert_eq!(
        run.result.description.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        run.result.description
    );
    assert_eq!(
        failures_in(&run.result, "Remediate"),
        ["Throttled", "Throttled", "Throttled"]
    );
    assert!(!rule_is_open(&run).await);
    // The Retry waits stay within the state machine's MaxDelaySeconds (60 s
    // for Throttled) and the execution does not give up early.
    let scheduled: Vec<_> = run
        .result
        .events
        .iter()
        .filter(|event| event.event_type == "LambdaFunctionScheduled")
        .map(|event| event.timestamp)
        .collect();
    for pair in scheduled.windows(2) {
        assert!(
            (pair[1] - pair[0]).num_seconds() <= 61,
            "a retry waited longer than MaxDelaySeconds"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_failure_in_remediate_is_escalated_dead_lettered_and_changes_nothing() {
    let run = run_with(vec![Fault::ec2_unauthorized("RevokeSecurityGroupIngress")]).await;

    let description = &run.result.description;
    assert_eq!(description.status, ExecutionStatus::Failed);
    assert_eq!(description.error.as_deref(), Some("AccessDenied"));
    assert_eq!(
        failures_in(&run.result, "Remediate"),
        ["AccessDenied"],
        "AccessDenied is not retried"
    );

    assert!(rule_is_open(&run).await, "nothing was revoked");
    assert_eq!(
        backups(&run).await,
        1,
        "the backup written before remediation stays"
    );

    let dead_letters = run.stack.take_dead_letters(5).await.unwrap();
    assert_eq!(dead_letters.len(), 1);
    let letter = &dead_letters[0];
    assert_eq!(letter["failedState"], "Remediate");
    assert_eq!(letter["error"]["Error"], "AccessDenied");
    assert_eq!(
        letter["input"]["detail"]["eventID"],
        run.made.event_id(),
        "the original event can be replayed"
    );

    let escalations = run.stack.take_escalations(5).await.unwrap();
    assert_eq!(escalations.len(), 1);
    let body: Value = serde_json::from_str(escalations[0]["Message"].as_str().unwrap()).unwrap();
    let summary = body["summary"].as_str().unwrap();
    assert!(
        summary.contains("Remediate failed with AccessDenied"),
        "{summary}"
    );
    assert!(summary.contains(&description.execution_arn), "{summary}");
}
