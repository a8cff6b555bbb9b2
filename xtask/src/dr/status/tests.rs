//! `status` on the local stack: both regions in moto (with their Step
//! Functions endpoints where the test needs them), the active-region
//! record written as a failover writes it, and the faults status must
//! report: a lagging table copy, a policy in one region only, dead
//! letters, a region that does not answer.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::Utc;
use local_stack::pipeline::{Pipeline, PipelineOptions};
use local_stack::{ACCOUNT, LocalStack, RegionStack, StackSpec};
use moat_aws::Aws;
use moat_aws::records::{ActiveRegions, DynamoRecords};
use moat_domain::fencing::ActiveRegion;

use super::*;
use crate::dr::LocalEndpoints;

fn args(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

/// The regions as the commands reach them: moto for AWS, and each
/// region's Step Functions endpoint.
async fn regions(spec: &StackSpec, at: &[(&RegionStack, String)]) -> Regions {
    let endpoints: BTreeMap<String, LocalEndpoints> = at
        .iter()
        .map(|(stack, sfn)| {
            let endpoints = LocalEndpoints {
                aws: stack.moto.endpoint_url(),
                sfn: sfn.clone(),
            };
            (stack.region().to_owned(), endpoints)
        })
        .collect();
    Regions::local(spec.clone(), &endpoints).await.unwrap()
}

/// A loopback URL nothing listens on: a Step Functions endpoint that
/// refuses, for tests that do not need one.
fn refusing_endpoint() -> String {
    format!("http://127.0.0.1:{}", local_aws::free_port().unwrap())
}

async fn put_record(spec: &StackSpec, stack: &RegionStack, region: &str, epoch: u64) {
    let record = ActiveRegion {
        region: region.to_owned(),
        epoch,
        since: Utc::now(),
        by: "arn:aws:iam::123456789012:user/oncall".to_owned(),
    };
    DynamoRecords::new(
        &Aws::from_sdk_config(stack.config.clone()),
        &spec.records_table,
    )
    .put_active_region(&record)
    .await
    .unwrap();
}

async fn put_parameter(spec: &StackSpec, stack: &RegionStack, value: &str) {
    aws_sdk_ssm::Client::new(&stack.config)
        .put_parameter()
        .name(&spec.active_region_parameter)
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .unwrap();
}

/// The rule on the central bus, enabled, as the central module makes it;
/// created here when the local stack does not provision it.
async fn ensure_rule(spec: &StackSpec, stack: &RegionStack) {
    let events = aws_sdk_eventbridge::Client::new(&stack.config);
    let described = events
        .describe_rule()
        .name(&spec.event_rule)
        .event_bus_name(&spec.event_bus)
        .send()
        .await;
    if described.is_ok() {
        return;
    }
    // Fails harmlessly when the bus exists already.
    let _ = events.create_event_bus().name(&spec.event_bus).send().await;
    events
        .put_rule()
        .name(&spec.event_rule)
        .event_bus_name(&spec.event_bus)
        .event_pattern(spec.event_pattern().unwrap())
        .state(aws_sdk_eventbridge::types::RuleState::Enabled)
        .send()
        .await
        .unwrap();
}

fn region<'a>(status: &'a Status, name: &str) -> &'a RegionStatus {
    status
        .regions
        .iter()
        .find(|region| region.name == name)
        .unwrap_or_else(|| panic!("no {name} in {status:#?}"))
}

fn any_contains(items: &[String], needle: &str) -> bool {
    items.iter().any(|item| item.contains(needle))
}

#[test]
fn parse_reads_json_and_executions_and_names_what_it_does_not_know() {
    assert_eq!(parse(args("")).unwrap(), Some(Request::default()));
    assert_eq!(Request::default().executions, 20);
    assert_eq!(
        parse(args("--json --executions 5")).unwrap(),
        Some(Request {
            json: true,
            executions: 5
        })
    );
    assert_eq!(parse(args("--help")).unwrap(), None);
    let error = parse(args("--yes")).unwrap_err();
    assert!(error.to_string().contains("--yes"), "{error}");
    let error = parse(args("--executions 0")).unwrap_err();
    assert!(error.to_string().contains("--executions 0"), "{error}");
    let error = parse(args("--executions many")).unwrap_err();
    assert!(error.to_string().contains("--executions many"), "{error}");
    assert!(parse(args("--executions")).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_failover_status_names_the_secondary_and_reports_drift_and_dead_letters() {
    let stack = LocalStack::start().await.unwrap();
    let spec = &stack.spec;
    let (primary, secondary) = (&stack.primary, &stack.secondary);
    let options = PipelineOptions::default();
    let primary_pipeline = Pipeline::new(spec, primary, &options).await.unwrap();
    let secondary_pipeline = Pipeline::new(spec, secondary, &options).await.unwrap();
    let regions = regions(
        spec,
        &[
            (primary, primary_pipeline.endpoint().url().to_owned()),
            (secondary, secondary_pipeline.endpoint().url().to_owned()),
        ],
    )
    .await;
    for stack in [primary, secondary] {
        put_record(spec, stack, secondary.region(), 2).await;
        ensure_rule(spec, stack).await;
    }
    put_parameter(spec, primary, "passive").await;
    put_parameter(spec, secondary, "active").await;
    // A policy pushed to the secondary only.
    let mut policy: serde_json::Value =
        serde_json::from_str(moat_domain::policy::BUILTIN_JSON).unwrap();
    policy["comment"] = "pushed to one region only".into();
    aws_sdk_s3::Client::new(&secondary.config)
        .put_object()
        .bucket(spec.policy_bucket_in(ACCOUNT, secondary.region()))
        .key(&spec.policy_key)
        .body(policy.to_string().into_bytes().into())
        .send()
        .await
        .unwrap();
    aws_sdk_sqs::Client::new(&primary.config)
        .send_message()
        .queue_url(&primary.resources.dead_letter_queue_url)
        .message_body(r#"{"failed": "a remediation"}"#)
        .send()
        .await
        .unwrap();
    // An execution stopped at once: an ABORTED one among the last.
    let started = primary_pipeline
        .endpoint()
        .start_execution(&serde_json::json!({}), Some("stopped-by-hand"))
        .await
        .unwrap();
    primary_pipeline
        .endpoint()
        .client()
        .stop_execution()
        .execution_arn(&started)
        .send()
        .await
        .unwrap();

    let status = status(&regions, &Request::default()).await.unwrap();
    let text = render(&status);

    assert_eq!(
        status.active_region.as_deref(),
        Some(secondary.region()),
        "{text}"
    );
    assert_eq!(status.epoch, Some(2));
    let (east, west) = (
        region(&status, primary.region()),
        region(&status, secondary.region()),
    );
    assert!(east.reachable && west.reachable, "{text}");
    assert_eq!(east.standing, Standing::Passive);
    assert_eq!(west.standing, Standing::Active);
    assert!(!east.behind && !west.behind, "{text}");
    assert_eq!(east.parameter, Check::Found("passive".to_owned()));
    assert_eq!(west.event_rule, Check::Found("ENABLED".to_owned()));
    assert_eq!(east.dead_letters, Check::Found(1));
    assert_eq!(west.dead_letters, Check::Found(0));
    let remediation = east.remediation.found().expect("the remediation machine");
    assert_eq!(remediation.counts.get("ABORTED"), Some(&1), "{text}");
    assert_eq!(remediation.failures[0].name, "stopped-by-hand");
    assert!(remediation.failures[0].stop_date.is_some());
    assert_eq!(remediation.running, 0);
    assert_eq!(
        west.sweep.found().map(|machine| machine.recent),
        Some(0),
        "{text}"
    );
    // The SDK speaks CloudWatch's CBOR protocol, which moto does not
    // decode: locally the metrics are either there (a moto that does) or
    // this check fails on its own, and nothing else with it.
    match &west.replication {
        Check::Found(replication) => {
            assert_eq!(replication[0].receiving_region, primary.region());
            assert_eq!(replication[0].latency_ms, None, "moto has no datapoint");
        }
        Check::Failed(error) => assert!(error.contains("GetMetricStatistics"), "{error}"),
        other => panic!("{other:?}"),
    }
    // Moto registers none of the functions: missing, in both, so no drift.
    assert!(
        east.functions.values().all(|code| *code == Check::Missing),
        "{text}"
    );
    assert_eq!(east.functions.len(), spec.functions.len());

    assert!(any_contains(&status.drift, "the policy"), "{text}");
    assert_eq!(
        status.drift.len(),
        1,
        "the state machines' definitions differ only by region and account: {text}"
    );
    assert!(
        any_contains(&status.problems, "dead-letter queue"),
        "{text}"
    );
    assert!(!any_contains(&status.problems, "parameter"), "{text}");
    assert!(!any_contains(&status.problems, "more than one"), "{text}");
    assert!(text.contains("stopped-by-hand"), "{text}");

    let json = serde_json::to_value(&status).unwrap();
    assert_eq!(json["activeRegion"], secondary.region());
    assert_eq!(json["regions"][0]["deadLetters"]["found"], 1);
    assert_eq!(json["regions"][0]["standing"], "passive");

    primary_pipeline.shutdown().await;
    secondary_pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_copy_with_a_lower_epoch_is_behind_and_its_region_looks_active() {
    let stack = LocalStack::start().await.unwrap();
    let spec = &stack.spec;
    let (primary, secondary) = (&stack.primary, &stack.secondary);
    // No Step Functions here: those checks fail on their own.
    let regions = regions(
        spec,
        &[
            (primary, refusing_endpoint()),
            (secondary, refusing_endpoint()),
        ],
    )
    .await;
    put_record(spec, primary, primary.region(), 1).await;
    put_record(spec, secondary, secondary.region(), 2).await;
    put_parameter(spec, primary, "active").await;
    put_parameter(spec, secondary, "passive").await;

    let status = status(&regions, &Request::default()).await.unwrap();
    let text = render(&status);

    assert_eq!(status.active_region.as_deref(), Some(secondary.region()));
    assert_eq!(status.epoch, Some(2));
    let (east, west) = (
        region(&status, primary.region()),
        region(&status, secondary.region()),
    );
    assert!(east.behind && !west.behind, "{text}");
    assert_eq!(east.standing, Standing::Passive);
    assert_eq!(east.record.found().map(|copy| copy.epoch), Some(1));
    assert!(any_contains(&status.problems, "behind"), "{text}");
    assert!(
        any_contains(&status.problems, "more than one region looks active"),
        "{text}"
    );
    for name in [primary.region(), secondary.region()] {
        assert!(
            any_contains(&status.problems, &format!("{name}: parameter")),
            "{text}"
        );
    }
    assert!(
        matches!(east.remediation, Check::Failed(_)),
        "{:?}",
        east.remediation
    );
    assert!(
        any_contains(
            &status.problems,
            "could not read the remediation state machine"
        ),
        "{text}"
    );
    assert!(text.contains("BEHIND"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_primary_down_status_still_answers_and_reports_it_unreachable() {
    let LocalStack {
        spec,
        primary,
        secondary,
    } = LocalStack::start().await.unwrap();
    let regions = regions(
        &spec,
        &[
            (&primary, refusing_endpoint()),
            (&secondary, refusing_endpoint()),
        ],
    )
    .await;
    put_record(&spec, &secondary, secondary.region(), 2).await;
    let primary_region = primary.region().to_owned();
    let RegionStack { moto, .. } = primary;
    moto.stop();

    let began = Instant::now();
    let status = status(&regions, &Request::default()).await.unwrap();
    let text = render(&status);

    assert!(began.elapsed().as_secs() < 30, "{:?}", began.elapsed());
    let (east, west) = (
        region(&status, &primary_region),
        region(&status, secondary.region()),
    );
    assert!(!east.reachable, "{text}");
    assert!(east.error.is_some());
    assert_eq!(east.record, Check::NotRead);
    assert!(west.reachable, "{text}");
    assert_eq!(status.active_region.as_deref(), Some(secondary.region()));
    assert_eq!(west.standing, Standing::Active);
    assert!(
        any_contains(
            &status.problems,
            &format!("{primary_region} is unreachable")
        ),
        "{text}"
    );
    assert!(text.contains("UNREACHABLE"), "{text}");
    // Nothing to compare with: an unreachable region is no drift.
    assert!(status.drift.is_empty(), "{text}");
}

#[test]
fn a_metric_without_a_datapoint_is_null_and_no_data_in_text() {
    let spec = StackSpec::load().unwrap();
    let mut east = RegionStatus::unread(&spec.regions.primary);
    east.reachable = true;
    east.record = Check::Missing;
    east.replication = Check::Found(vec![Replication {
        receiving_region: spec.regions.secondary.clone(),
        latency_ms: None,
        pending_count: Some(3.0),
    }]);
    let status = combine(&spec, vec![east]);
    assert_eq!(status.regions[0].standing, Standing::Unfenced);
    assert_eq!(status.active_region, None);
    let text = render(&status);
    assert!(text.contains("latency no data, pending 3"), "{text}");
    assert!(text.contains("unfenced"), "{text}");
    let json = serde_json::to_value(&status).unwrap();
    let replication = &json["regions"][0]["replication"]["found"][0];
    assert_eq!(replication["latencyMs"], serde_json::Value::Null);
    assert_eq!(replication["pendingCount"], 3.0);
}
