//! The Distributed Map end to end against moto: a JSON Lines inventory
//! of 1,000 groups in S3 judged in batches of 100 by child executions
//! (`tests/fixtures/distributed-sweep.asl.json`, Moat's sweep in small),
//! whose results land in S3 in AWS's layout while the parent's history
//! holds only the Map Run; a failing child past the tolerated threshold;
//! the CSV, JSON and listing readers (`distributed-readers.asl.json`);
//! and, without moto, a missing endpoint, the virtual clock, a stopped
//! parent and the time 5,000 items take.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sfn_local::{
    ExecutionResult, ExecutionStatus, Executor, ExecutorConfig, MapRunStatus, StateMachine,
};

const REGION: &str = "us-east-1";
const CHILDREN: &str = "arn:aws:states:us-east-1:123456789012:execution:Sweep/Judge_every_group:";

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The moto every test of this file shares, each with buckets of its own.
async fn moto() -> &'static local_aws::Moto {
    tokio::task::spawn_blocking(|| local_aws::Moto::shared(REGION))
        .await
        .expect("join")
        .expect("moto starts")
}

async fn s3(moto: &local_aws::Moto) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(&moto.sdk_config().await)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

async fn bucket(s3: &aws_sdk_s3::Client, name: &str) {
    s3.create_bucket()
        .bucket(name)
        .send()
        .await
        .expect("bucket");
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: String) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into_bytes().into())
        .send()
        .await
        .expect("put");
}

async fn get_json(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Value {
    let out = s3.get_object().bucket(bucket).key(key).send().await;
    let body = out.unwrap_or_else(|e| panic!("{key}: {e:?}")).body;
    let bytes = body.collect().await.expect("body").into_bytes();
    serde_json::from_slice(&bytes).expect("JSON")
}

fn executor(endpoint: Option<String>, virtual_time: bool) -> Executor {
    Executor::new(ExecutorConfig {
        aws_endpoint_urls: endpoint
            .map(|e| HashMap::from([(REGION.to_owned(), e)]))
            .unwrap_or_default(),
        virtual_time,
        ..ExecutorConfig::default()
    })
}

fn sweep(max_concurrency: u32, tolerance: u32) -> StateMachine {
    let subs = HashMap::from([
        ("MaxConcurrency".to_owned(), max_concurrency.to_string()),
        ("Tolerance".to_owned(), tolerance.to_string()),
    ]);
    StateMachine::new("Sweep", &fixture("distributed-sweep.asl.json"), &subs).expect("valid")
}

/// `count` groups as JSON Lines, the group at `bad` (if any) unjudgeable.
fn inventory(count: usize, bad: Option<usize>) -> String {
    (0..count)
        .map(|i| json!({"groupId": format!("sg-{i:05}"), "bad": Some(i) == bad}).to_string() + "\n")
        .collect()
}

fn types(result: &ExecutionResult) -> Vec<&str> {
    result
        .events
        .iter()
        .map(|e| e.event_type.as_str())
        .collect()
}

fn sweep_input(bucket: &str) -> Value {
    json!({
        "sweepId": "sweep-1",
        "inventory": {"bucket": bucket, "key": "inventory/groups.jsonl"},
        "reportsBucket": bucket,
        "resultsPrefix": "results/sweep-1",
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_jsonl_inventory_is_judged_by_child_executions_and_written_to_s3() {
    let moto = moto().await;
    let s3 = s3(moto).await;
    bucket(&s3, "sweep-ok").await;
    put(
        &s3,
        "sweep-ok",
        "inventory/groups.jsonl",
        inventory(1000, None),
    )
    .await;
    let executor = executor(Some(moto.endpoint_url()), true);
    let execution = executor.start_execution(&sweep(10, 0), Some("s1"), sweep_input("sweep-ok"));
    let control = execution.control();
    let result = execution.wait().await;
    assert_eq!(
        result.description.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        result.description
    );
    assert_eq!(
        types(&result),
        [
            "ExecutionStarted",
            "MapStateEntered",
            "MapStateStarted",
            "MapRunStarted",
            "MapRunSucceeded",
            "MapStateSucceeded",
            "MapStateExited",
            "SucceedStateEntered",
            "SucceedStateExited",
            "ExecutionSucceeded",
        ]
    );
    let judged = &result.output().unwrap()["judged"];
    let map_run_arn = judged["MapRunArn"].as_str().unwrap();
    let id = map_run_arn.rsplit(':').next().unwrap();
    assert_eq!(
        map_run_arn,
        format!("arn:aws:states:us-east-1:123456789012:mapRun:Sweep/Judge_every_group:{id}")
    );
    let manifest_key = format!("results/sweep-1/{id}/manifest.json");
    assert_eq!(
        judged["ResultWriterDetails"],
        json!({"Bucket": "sweep-ok", "Key": manifest_key})
    );
    let started = result
        .events
        .iter()
        .find(|e| e.event_type == "MapRunStarted")
        .unwrap();
    assert_eq!(started.details.as_ref().unwrap()["mapRunArn"], map_run_arn);
    check_written_results(&s3, &manifest_key, map_run_arn, id).await;
    let runs = control.map_runs();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run.status, MapRunStatus::Succeeded);
    assert_eq!(
        (run.item_counts.succeeded, run.item_counts.total),
        (1000, 1000)
    );
    assert_eq!(
        (
            run.execution_counts.succeeded,
            run.execution_counts.results_written
        ),
        (10, 10)
    );
    for child in &run.children {
        let child_types: Vec<&str> = child.events.iter().map(|e| e.event_type.as_str()).collect();
        assert_eq!(child_types.first(), Some(&"ExecutionStarted"));
        assert_eq!(child_types.last(), Some(&"ExecutionSucceeded"));
        assert!(child_types.contains(&"ChoiceStateEntered"));
    }
}

/// The manifest and the one SUCCEEDED file of a Map Run that succeeded.
async fn check_written_results(s3: &aws_sdk_s3::Client, manifest_key: &str, arn: &str, id: &str) {
    let manifest = get_json(s3, "sweep-ok", manifest_key).await;
    assert_eq!(manifest["DestinationBucket"], "sweep-ok");
    assert_eq!(manifest["MapRunArn"], arn);
    assert_eq!(manifest["ResultFiles"]["FAILED"], json!([]));
    assert_eq!(manifest["ResultFiles"]["PENDING"], json!([]));
    let file = &manifest["ResultFiles"]["SUCCEEDED"][0];
    assert_eq!(
        file["Key"],
        format!("results/sweep-1/{id}/SUCCEEDED_0.json")
    );
    let records = get_json(s3, "sweep-ok", file["Key"].as_str().unwrap()).await;
    let records = records.as_array().unwrap();
    assert_eq!(records.len(), 10);
    let mut firsts: Vec<String> = Vec::new();
    for record in records {
        assert_eq!(record["Status"], "SUCCEEDED");
        assert!(
            record["ExecutionArn"]
                .as_str()
                .unwrap()
                .starts_with(CHILDREN),
            "{record}"
        );
        assert_eq!(
            record["StateMachineArn"],
            "arn:aws:states:us-east-1:123456789012:stateMachine:Sweep/Judge_every_group"
        );
        let input: Value = serde_json::from_str(record["Input"].as_str().unwrap()).unwrap();
        assert_eq!(input["BatchInput"], json!({"sweepId": "sweep-1"}));
        assert_eq!(input["Items"].as_array().unwrap().len(), 100);
        let output: Value = serde_json::from_str(record["Output"].as_str().unwrap()).unwrap();
        assert_eq!(
            (output["judged"].clone(), output["bad"].clone()),
            (json!(100), json!(false))
        );
        firsts.push(output["first"].as_str().unwrap().to_owned());
    }
    firsts.sort();
    let expected: Vec<String> = (0..10).map(|b| format!("sg-{:05}", b * 100)).collect();
    assert_eq!(firsts, expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_child_past_the_threshold_fails_the_map_run_and_is_written_as_failed() {
    let moto = moto().await;
    let s3 = s3(moto).await;
    bucket(&s3, "sweep-bad").await;
    // The group at 250 is in the third batch; one child at a time, so the
    // first two succeed, the third fails and the other seven never start.
    put(
        &s3,
        "sweep-bad",
        "inventory/groups.jsonl",
        inventory(1000, Some(250)),
    )
    .await;
    let executor = executor(Some(moto.endpoint_url()), true);
    let result = executor
        .run_to_completion(&sweep(1, 0), Some("s2"), sweep_input("sweep-bad"))
        .await;
    assert_eq!(result.description.status, ExecutionStatus::Failed);
    assert_eq!(
        result.description.error.as_deref(),
        Some("States.ExceedToleratedFailureThreshold")
    );
    assert_eq!(
        types(&result),
        [
            "ExecutionStarted",
            "MapStateEntered",
            "MapStateStarted",
            "MapRunStarted",
            "MapRunFailed",
            "MapStateFailed",
            "ExecutionFailed",
        ]
    );
    let listed = s3
        .list_objects_v2()
        .bucket("sweep-bad")
        .prefix("results/")
        .send()
        .await
        .unwrap();
    let manifest_key = listed
        .contents()
        .iter()
        .filter_map(|o| o.key())
        .find(|k| k.ends_with("/manifest.json"))
        .expect("a manifest")
        .to_owned();
    let manifest = get_json(&s3, "sweep-bad", &manifest_key).await;
    let files = &manifest["ResultFiles"];
    let read = |kind: &str| files[kind][0]["Key"].as_str().map(str::to_owned);
    let succeeded = get_json(&s3, "sweep-bad", &read("SUCCEEDED").unwrap()).await;
    let failed = get_json(&s3, "sweep-bad", &read("FAILED").unwrap()).await;
    let pending = get_json(&s3, "sweep-bad", &read("PENDING").unwrap()).await;
    assert_eq!(succeeded.as_array().unwrap().len(), 2);
    assert_eq!(pending.as_array().unwrap().len(), 7);
    let failed = &failed[0];
    assert_eq!(
        (&failed["Status"], &failed["Error"], &failed["Cause"]),
        (
            &json!("FAILED"),
            &json!("Judge.BadGroup"),
            &json!("a group could not be judged")
        )
    );
    assert!(
        failed["ExecutionArn"]
            .as_str()
            .unwrap()
            .starts_with(CHILDREN)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn csv_json_and_listing_readers_give_their_items() {
    let moto = moto().await;
    let s3 = s3(moto).await;
    bucket(&s3, "readers").await;
    let csv = "id,name\nsg-1,\"web, public\"\nsg-2,db\n".to_owned();
    put(&s3, "readers", "groups.csv", csv).await;
    put(
        &s3,
        "readers",
        "ports.psv",
        "sg-1|22\nsg-2|443\n".to_owned(),
    )
    .await;
    put(
        &s3,
        "readers",
        "groups.json",
        json!([{"id": 1}, {"id": 2}, {"id": 3}]).to_string(),
    )
    .await;
    put(&s3, "readers", "listed/a.json", "{}".to_owned()).await;
    put(&s3, "readers", "listed/b.json", "[1]".to_owned()).await;
    put(&s3, "readers", "elsewhere.json", "{}".to_owned()).await;
    let subs = HashMap::from([("Bucket".to_owned(), "readers".to_owned())]);
    let definition = fixture("distributed-readers.asl.json");
    let machine = StateMachine::new("Readers", &definition, &subs).expect("valid");
    let executor = executor(Some(moto.endpoint_url()), true);
    let result = executor.run_to_completion(&machine, None, json!({})).await;
    assert_eq!(
        result.description.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        result.description
    );
    let output = result.output().unwrap();
    assert_eq!(
        output[0],
        json!([{"id": "sg-1", "name": "web, public"}, {"id": "sg-2", "name": "db"}])
    );
    assert_eq!(
        output[1],
        json!([{"id": "sg-1", "port": "22"}, {"id": "sg-2", "port": "443"}])
    );
    assert_eq!(output[2], json!([{"id": 1}, {"id": 2}]));
    assert_eq!(
        output[3],
        json!([{"key": "listed/a.json", "size": 2}, {"key": "listed/b.json", "size": 3}])
    );
}

#[tokio::test]
async fn without_a_local_endpoint_the_item_reader_fails_and_reaches_nothing() {
    let executor = executor(None, true);
    let result = executor
        .run_to_completion(&sweep(10, 0), None, sweep_input("anywhere"))
        .await;
    assert_eq!(result.description.status, ExecutionStatus::Failed);
    assert_eq!(result.description.error.as_deref(), Some("States.Runtime"));
    let cause = result.description.cause.unwrap_or_default();
    assert!(
        cause.contains("No local AWS endpoint is configured for region us-east-1"),
        "{cause}"
    );
}

/// A Distributed Map over `count` ids from `ItemsPath`, `batch` to a
/// child, whose processor is `processor`.
fn items_machine(processor: Value, batch: u32) -> StateMachine {
    let definition = json!({
        "StartAt": "Each",
        "States": {"Each": {
            "Type": "Map",
            "ItemsPath": "$.ids",
            "ItemBatcher": {"MaxItemsPerBatch": batch},
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                "StartAt": "Work",
                "States": {"Work": processor}
            },
            "End": true
        }}
    });
    StateMachine::new("Items", &definition.to_string(), &HashMap::new()).expect("valid")
}

fn ids(count: usize) -> Value {
    json!({"ids": (0..count).map(|i| format!("sg-{i:05}")).collect::<Vec<_>>()})
}

fn seconds_between(result: &ExecutionResult, from: &str, to: &str) -> i64 {
    let at = |t: &str| {
        result
            .events
            .iter()
            .find(|e| e.event_type == t)
            .unwrap()
            .timestamp
    };
    (at(to) - at(from)).num_seconds()
}

#[tokio::test]
async fn children_wait_on_the_virtual_clock_and_the_parent_goes_on_from_the_latest() {
    let wait = json!({"Type": "Wait", "Seconds": 3600, "End": true});
    let executor = executor(None, true);
    let started = Instant::now();
    let execution = executor.start_execution(&items_machine(wait, 2), None, ids(6));
    let control = execution.control();
    let result = execution.wait().await;
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(result.description.status, ExecutionStatus::Succeeded);
    // Three children of one hour each, all at once.
    let hours = seconds_between(&result, "MapRunStarted", "MapRunSucceeded");
    assert!((3600..3610).contains(&hours), "{hours}");
    let child = &control.map_runs()[0].children[0];
    let waited = seconds_between(child, "WaitStateEntered", "WaitStateExited");
    assert_eq!(waited, 3600);
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_the_parent_aborts_its_map_run() {
    let wait = json!({"Type": "Wait", "Seconds": 30, "End": true});
    let executor = executor(None, false);
    let execution = executor.start_execution(&items_machine(wait, 1), None, ids(3));
    let control = execution.control();
    for _ in 0..200 {
        let running = control
            .map_runs()
            .first()
            .map(|r| r.execution_counts.running);
        if running == Some(3) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(control.stop(None, Some("enough".to_owned())));
    let result = execution.wait().await;
    assert_eq!(result.description.status, ExecutionStatus::Aborted);
    let tail: Vec<&str> = types(&result).into_iter().rev().take(2).collect();
    assert_eq!(tail, ["ExecutionAborted", "MapRunAborted"]);
    assert_eq!(control.map_runs()[0].status, MapRunStatus::Aborted);
}

#[tokio::test(flavor = "multi_thread")]
async fn five_thousand_items_in_fifty_batches_keep_the_parent_history_small() {
    let count =
        json!({"Type": "Pass", "Parameters": {"n.$": "States.ArrayLength($.Items)"}, "End": true});
    let executor = executor(None, true);
    let started = Instant::now();
    let execution = executor.start_execution(&items_machine(count, 100), None, ids(5000));
    let control = execution.control();
    let result = execution.wait().await;
    let elapsed = started.elapsed();
    println!("5,000 items in 50 child executions took {elapsed:?}");
    assert_eq!(result.description.status, ExecutionStatus::Succeeded);
    assert_eq!(result.events.len(), 8);
    assert_eq!(result.output().unwrap(), json!(vec![json!({"n": 100}); 50]));
    assert_eq!(control.map_runs()[0].children.len(), 50);
    assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");
}

/// A `Server` on a free port and an `aws-sdk-sfn` client for it.
async fn serve() -> aws_sdk_sfn::Client {
    use aws_sdk_sfn::config::{BehaviorVersion, Credentials, Region};
    let config = ExecutorConfig {
        virtual_time: true,
        ..ExecutorConfig::default()
    };
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let server = sfn_local::Server::bind(address, config)
        .await
        .expect("bind");
    let address = server.local_addr().expect("address");
    tokio::spawn(server.serve(std::future::pending()));
    let config = aws_sdk_sfn::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(format!("http://{address}"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .build();
    aws_sdk_sfn::Client::from_conf(config)
}

/// Starts `definition` on the endpoint and polls until it has ended.
async fn run_on(client: &aws_sdk_sfn::Client, definition: Value, input: Value) -> String {
    let machine = client
        .create_state_machine()
        .name("Items")
        .definition(definition.to_string())
        .role_arn("arn:aws:iam::123456789012:role/sfn-local")
        .send()
        .await
        .expect("create")
        .state_machine_arn;
    let execution = client
        .start_execution()
        .state_machine_arn(machine)
        .input(input.to_string())
        .send()
        .await
        .expect("start")
        .execution_arn;
    for _ in 0..200 {
        let described = client
            .describe_execution()
            .execution_arn(&execution)
            .send()
            .await;
        if described.expect("describe").status != aws_sdk_sfn::types::ExecutionStatus::Running {
            return execution;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{execution} did not end within 200 polls");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_endpoint_lists_map_runs_and_their_child_executions() {
    use aws_sdk_sfn::types::{ExecutionStatus as Status, MapRunStatus as RunStatus};
    let client = serve().await;
    let definition = json!({
        "StartAt": "Each",
        "States": {"Each": {
            "Type": "Map",
            "ItemsPath": "$.ids",
            "Label": "judge",
            "ItemBatcher": {"MaxItemsPerBatch": 2},
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                "StartAt": "Count",
                "States": {"Count": {"Type": "Pass", "Parameters": {"n.$": "States.ArrayLength($.Items)"}, "End": true}}
            },
            "End": true
        }}
    });
    let execution = run_on(&client, definition, ids(5)).await;
    let runs = client
        .list_map_runs()
        .execution_arn(&execution)
        .send()
        .await
        .unwrap();
    let run = &runs.map_runs()[0];
    assert!(
        run.map_run_arn().contains(":mapRun:Items/judge:"),
        "{run:?}"
    );
    let described = client
        .describe_map_run()
        .map_run_arn(run.map_run_arn())
        .send()
        .await
        .unwrap();
    assert_eq!(described.status(), &RunStatus::Succeeded);
    let counts = described.item_counts().unwrap();
    assert_eq!((counts.succeeded(), counts.total()), (5, 5));
    assert_eq!(described.execution_counts().unwrap().succeeded(), 3);
    let children = client
        .list_executions()
        .map_run_arn(run.map_run_arn())
        .send()
        .await
        .unwrap();
    assert_eq!(children.executions().len(), 3);
    let child = &children.executions()[0];
    assert_eq!(child.map_run_arn(), Some(run.map_run_arn()));
    assert!(child.execution_arn().contains(":execution:Items/judge:"));
    let child = client
        .describe_execution()
        .execution_arn(child.execution_arn())
        .send()
        .await;
    let child = child.unwrap();
    assert_eq!(child.status(), &Status::Succeeded);
    let output: Value = serde_json::from_str(child.output().unwrap()).unwrap();
    assert!(output["n"] == 2 || output["n"] == 1, "{output}");
    let history = client
        .get_execution_history()
        .execution_arn(child.execution_arn())
        .send()
        .await
        .unwrap();
    let types: Vec<&str> = history
        .events()
        .iter()
        .map(|e| e.r#type().as_str())
        .collect();
    assert_eq!(
        types.first(),
        Some(&"ExecutionStarted"),
        "a child's own history: {types:?}"
    );
    assert_eq!(types.last(), Some(&"ExecutionSucceeded"), "{types:?}");
}
