//! The Step Functions endpoint driven by the real `aws-sdk-sfn` client:
//! state machines created from fixture files, executions of the
//! `test-function` example polled to their end, history pages both ways,
//! status filters, StopExecution of a waiting execution, the errors as the
//! SDK's typed errors, name idempotency, validation, tags, and the same
//! history as the executor's own `run_to_completion` (what `sfn run` calls).
//!
//! Every wait is a bounded poll: no test depends on how fast the machine is.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_sfn::Client;
use aws_sdk_sfn::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sfn::operation::start_execution::{StartExecutionError, StartExecutionOutput};
use aws_sdk_sfn::types::{ExecutionStatus, HistoryEvent, HistoryEventType, Tag};
use serde_json::json;
use sfn_local::{ExecutorConfig, FunctionConfig, Server, StateMachine};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ROLE: &str = "arn:aws:iam::123456789012:role/sfn-local";

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The example binary Cargo builds next to the test executables.
fn test_function() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let debug = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target directory");
    let path = debug.join("examples").join("test-function");
    assert!(path.exists(), "build the example first: {}", path.display());
    path
}

fn config(virtual_time: bool) -> ExecutorConfig {
    ExecutorConfig {
        functions: vec![FunctionConfig::new("probe", test_function())],
        virtual_time,
        ..ExecutorConfig::default()
    }
}

/// A server on a free port, serving until the test's runtime ends, and an
/// SDK client for it.
async fn serve(config: ExecutorConfig) -> Client {
    let server = Server::bind(SocketAddr::from(([127, 0, 0, 1], 0)), config)
        .await
        .expect("bind");
    let address = server.local_addr().expect("address");
    tokio::spawn(server.serve(std::future::pending()));
    client(address)
}

fn client(address: SocketAddr) -> Client {
    let config = aws_sdk_sfn::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(format!("http://{address}"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .build();
    Client::from_conf(config)
}

async fn create(client: &Client, name: &str, fixture_name: &str) -> String {
    client
        .create_state_machine()
        .name(name)
        .definition(fixture(fixture_name))
        .role_arn(ROLE)
        .send()
        .await
        .expect("create")
        .state_machine_arn
}

async fn start(client: &Client, machine: &str, name: &str, input: serde_json::Value) -> String {
    client
        .start_execution()
        .state_machine_arn(machine)
        .name(name)
        .input(input.to_string())
        .send()
        .await
        .expect("start")
        .execution_arn
}

/// Polls DescribeExecution until the execution has ended, at most 200
/// times 50 ms apart.
async fn ended(
    client: &Client,
    execution: &str,
) -> aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput {
    for _ in 0..200 {
        let description = client
            .describe_execution()
            .execution_arn(execution)
            .send()
            .await
            .expect("describe");
        if description.status != ExecutionStatus::Running {
            return description;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{execution} did not end within 200 polls");
}

/// Every event, page by page, `size` at a time.
async fn all_events(
    client: &Client,
    execution: &str,
    reverse: bool,
    size: i32,
) -> Vec<HistoryEvent> {
    let mut events = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .get_execution_history()
            .execution_arn(execution)
            .reverse_order(reverse)
            .max_results(size)
            .set_next_token(token)
            .send()
            .await
            .expect("history");
        assert!(page.events.len() <= size as usize);
        events.extend(page.events);
        token = page.next_token;
        if token.is_none() {
            return events;
        }
    }
}

fn types(events: &[HistoryEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| e.r#type.as_str().to_owned())
        .collect()
}

/// The history of a probe that succeeds.
const PROBE_EVENTS: [&str; 11] = [
    "ExecutionStarted",
    "PassStateEntered",
    "PassStateExited",
    "ChoiceStateEntered",
    "ChoiceStateExited",
    "TaskStateEntered",
    "LambdaFunctionScheduled",
    "LambdaFunctionStarted",
    "LambdaFunctionSucceeded",
    "TaskStateExited",
    "ExecutionSucceeded",
];

#[tokio::test]
async fn an_execution_runs_the_real_function_and_its_history_pages_both_ways() {
    let client = serve(config(true)).await;
    let machine = create(&client, "probe", "server.asl.json").await;
    let execution = start(
        &client,
        &machine,
        "run-1",
        json!({"action": "succeed", "value": 7}),
    )
    .await;
    let description = ended(&client, &execution).await;
    assert_eq!(
        description.status,
        ExecutionStatus::Succeeded,
        "{description:?}"
    );
    let output: serde_json::Value = serde_json::from_str(description.output().unwrap()).unwrap();
    assert_eq!(output["echo"], 7);
    assert!(description.stop_date.unwrap().secs() >= description.start_date.secs());

    let forward = all_events(&client, &execution, false, 100).await;
    let backward = all_events(&client, &execution, true, 2).await;
    let ids = |events: &[HistoryEvent]| events.iter().map(|e| e.id).collect::<Vec<_>>();
    let mut reversed = ids(&backward);
    reversed.reverse();
    assert_eq!(ids(&forward), reversed);
    assert_eq!(types(&forward), PROBE_EVENTS);
    let scheduled = forward[6]
        .lambda_function_scheduled_event_details()
        .unwrap();
    assert_eq!(
        scheduled.resource,
        "arn:aws:lambda:us-east-1:123456789012:function:probe"
    );
    let started = forward[0].execution_started_event_details().unwrap();
    assert_eq!(started.role_arn(), Some(ROLE));
}

#[tokio::test]
async fn list_executions_filters_by_status_and_pages_newest_first() {
    let client = serve(config(true)).await;
    let machine = create(&client, "probe", "server.asl.json").await;
    let inputs = [("a", "skip"), ("b", "fail"), ("c", "skip")];
    for (name, action) in inputs {
        let execution = start(
            &client,
            &machine,
            name,
            json!({"action": action, "value": 0}),
        )
        .await;
        ended(&client, &execution).await;
    }
    let failed = client
        .list_executions()
        .state_machine_arn(&machine)
        .status_filter(ExecutionStatus::Failed)
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = failed.executions.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["b"]);
    let first = client
        .list_executions()
        .state_machine_arn(&machine)
        .max_results(2)
        .send()
        .await
        .unwrap();
    let second = client
        .list_executions()
        .state_machine_arn(&machine)
        .max_results(2)
        .set_next_token(first.next_token.clone())
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = first
        .executions
        .iter()
        .chain(&second.executions)
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(names, ["c", "b", "a"]);
    assert!(second.next_token.is_none());
    let b = ended(&client, &failed.executions[0].execution_arn).await;
    assert_eq!(b.error(), Some("ProbeFailed"));
}

/// Polls the history until the execution has entered its Wait state.
async fn until_waiting(client: &Client, execution: &str) {
    for _ in 0..200 {
        if types(&all_events(client, execution, false, 100).await)
            .contains(&"WaitStateEntered".to_owned())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{execution} never entered its Wait state");
}

#[tokio::test]
async fn stop_execution_aborts_a_waiting_execution() {
    let client = serve(config(false)).await;
    let machine = create(&client, "waiter", "server-wait.asl.json").await;
    let execution = start(&client, &machine, "waiting", json!({})).await;
    until_waiting(&client, &execution).await;
    let running = client
        .list_executions()
        .state_machine_arn(&machine)
        .status_filter(ExecutionStatus::Running)
        .send()
        .await
        .unwrap();
    assert_eq!(running.executions.len(), 1);

    let stopped = client
        .stop_execution()
        .execution_arn(&execution)
        .error("Operator")
        .cause("stopped by a test")
        .send()
        .await
        .unwrap();
    let description = client
        .describe_execution()
        .execution_arn(&execution)
        .send()
        .await
        .unwrap();
    assert_eq!(description.status, ExecutionStatus::Aborted);
    assert_eq!(
        (description.error(), description.cause()),
        (Some("Operator"), Some("stopped by a test"))
    );
    assert_eq!(description.stop_date, Some(stopped.stop_date));
    let events = all_events(&client, &execution, false, 100).await;
    assert_eq!(
        types(&events),
        ["ExecutionStarted", "WaitStateEntered", "ExecutionAborted"]
    );
    let aborted = events[2].execution_aborted_event_details().unwrap();
    assert_eq!(aborted.error(), Some("Operator"));

    // Stopping a closed execution changes nothing.
    let again = client
        .stop_execution()
        .execution_arn(&execution)
        .send()
        .await
        .unwrap();
    assert_eq!(again.stop_date, stopped.stop_date);
}

/// StartExecution of `name` with `input`, as the SDK answers it.
async fn start_named(
    client: &Client,
    machine: &str,
    name: &str,
    input: &str,
) -> Result<StartExecutionOutput, StartExecutionError> {
    let sent = client
        .start_execution()
        .state_machine_arn(machine)
        .name(name)
        .input(input);
    sent.send().await.map_err(|e| e.into_service_error())
}

#[tokio::test]
async fn start_execution_is_idempotent_by_name_while_the_execution_runs() {
    let client = serve(config(false)).await;
    let machine = create(&client, "waiter", "server-wait.asl.json").await;
    let first = start_named(&client, &machine, "once", r#"{"a":1}"#)
        .await
        .unwrap();
    let same = start_named(&client, &machine, "once", r#"{"a":1}"#)
        .await
        .unwrap();
    assert_eq!(
        (&first.execution_arn, first.start_date),
        (&same.execution_arn, same.start_date)
    );
    let other = start_named(&client, &machine, "once", r#"{"a":2}"#).await;
    assert!(other.unwrap_err().is_execution_already_exists());
    let stop = client.stop_execution().execution_arn(&first.execution_arn);
    stop.send().await.unwrap();
    let closed = start_named(&client, &machine, "once", r#"{"a":1}"#).await;
    assert!(closed.unwrap_err().is_execution_already_exists());
}

#[tokio::test]
async fn missing_resources_and_bad_arns_arrive_as_the_sdks_typed_errors() {
    let client = serve(config(true)).await;
    let missing = "arn:aws:states:us-east-1:123456789012:execution:probe:nothing";
    let describe = client.describe_execution().execution_arn(missing);
    let error = describe.send().await.unwrap_err().into_service_error();
    assert!(error.is_execution_does_not_exist(), "{error:?}");
    let expected = format!("Execution Does Not Exist: '{missing}'");
    assert_eq!(error.meta().message(), Some(expected.as_str()));
    let none = "arn:aws:states:us-east-1:123456789012:stateMachine:none";
    let describe = client.describe_state_machine().state_machine_arn(none);
    let error = describe.send().await.unwrap_err().into_service_error();
    assert!(error.is_state_machine_does_not_exist(), "{error:?}");
    let history = client.get_execution_history().execution_arn("not-an-arn");
    let error = history.send().await.unwrap_err().into_service_error();
    assert!(error.is_invalid_arn(), "{error:?}");
}

#[tokio::test]
async fn bad_definitions_names_and_inputs_arrive_as_the_sdks_typed_errors() {
    let client = serve(config(true)).await;
    let invalid = fixture("server-invalid.asl.json");
    let create_bad = client
        .create_state_machine()
        .name("bad")
        .definition(invalid)
        .role_arn(ROLE);
    let error = create_bad.send().await.unwrap_err().into_service_error();
    assert!(error.is_invalid_definition(), "{error:?}");
    let message = error.meta().message().unwrap_or_default();
    assert!(
        message.starts_with("Invalid State Machine Definition: 'MISSING_TRANSITION_TARGET"),
        "{message}"
    );
    let machine = create(&client, "probe", "server.asl.json").await;
    let error = start_named(&client, &machine, "has space", "{}")
        .await
        .unwrap_err();
    assert!(error.is_invalid_name(), "{error:?}");
    let error = start_named(&client, &machine, "bad-input", "{oops")
        .await
        .unwrap_err();
    assert!(error.is_invalid_execution_input(), "{error:?}");
}

#[tokio::test]
async fn validation_answers_ok_or_fail_with_diagnostics() {
    let client = serve(config(true)).await;
    let ok = client
        .validate_state_machine_definition()
        .definition(fixture("server.asl.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.result.as_str(), "OK");
    assert!(ok.diagnostics.is_empty());
    let fail = client
        .validate_state_machine_definition()
        .definition(fixture("server-invalid.asl.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(fail.result.as_str(), "FAIL");
    let diagnostic = &fail.diagnostics[0];
    assert_eq!(
        (diagnostic.code.as_str(), diagnostic.location()),
        ("MISSING_TRANSITION_TARGET", Some("/States/Start/Next"))
    );
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

#[tokio::test]
async fn tags_round_trip_and_go_with_their_machine() {
    let client = serve(config(true)).await;
    let create_tagged = client
        .create_state_machine()
        .name("probe")
        .definition(fixture("server.asl.json"))
        .role_arn(ROLE)
        .tags(tag("team", "moat"));
    let machine = create_tagged.send().await.unwrap().state_machine_arn;
    let add = client
        .tag_resource()
        .resource_arn(&machine)
        .tags(tag("env", "local"));
    add.send().await.unwrap();
    let remove = client
        .untag_resource()
        .resource_arn(&machine)
        .tag_keys("team");
    remove.send().await.unwrap();
    let tags = client.list_tags_for_resource().resource_arn(&machine);
    assert_eq!(tags.send().await.unwrap().tags(), [tag("env", "local")]);
    let delete = client.delete_state_machine().state_machine_arn(&machine);
    delete.send().await.unwrap();
    let gone = client.list_tags_for_resource().resource_arn(&machine);
    let error = gone.send().await.unwrap_err().into_service_error();
    assert!(error.is_resource_not_found(), "{error:?}");
}

#[tokio::test]
async fn machines_are_idempotent_by_name_and_have_no_versions() {
    let client = serve(config(true)).await;
    let machine = create(&client, "probe", "server.asl.json").await;
    assert_eq!(create(&client, "probe", "server.asl.json").await, machine);
    let other = client
        .create_state_machine()
        .name("probe")
        .definition(fixture("server-wait.asl.json"))
        .role_arn(ROLE);
    let error = other.send().await.unwrap_err().into_service_error();
    assert!(error.is_state_machine_already_exists(), "{error:?}");
    let versions = client
        .list_state_machine_versions()
        .state_machine_arn(&machine);
    assert!(
        versions
            .send()
            .await
            .unwrap()
            .state_machine_versions
            .is_empty()
    );
}

#[tokio::test]
async fn an_update_reaches_new_executions_only() {
    let client = serve(config(true)).await;
    let machine = create(&client, "probe", "server.asl.json").await;
    let before = start(
        &client,
        &machine,
        "before",
        json!({"action": "skip", "value": 0}),
    )
    .await;
    ended(&client, &before).await;
    client
        .update_state_machine()
        .state_machine_arn(&machine)
        .definition(fixture("server-wait.asl.json"))
        .send()
        .await
        .unwrap();
    let described = client
        .describe_state_machine()
        .state_machine_arn(&machine)
        .send()
        .await
        .unwrap();
    assert_eq!(described.definition, fixture("server-wait.asl.json"));
    let ran = client
        .describe_state_machine_for_execution()
        .execution_arn(&before)
        .send()
        .await
        .unwrap();
    assert_eq!(ran.definition, fixture("server.asl.json"));
    let listed = client.list_state_machines().send().await.unwrap();
    assert_eq!(listed.state_machines.len(), 1);
    assert_eq!(listed.state_machines[0].name, "probe");
}

#[tokio::test]
async fn the_server_records_the_history_run_to_completion_records() {
    let input = json!({"action": "succeed", "value": 3});
    let executor = sfn_local::Executor::new(config(true));
    let text = fixture("server.asl.json");
    let machine = StateMachine::new("probe", &text, &Default::default()).unwrap();
    let direct = executor
        .run_to_completion(&machine, None, input.clone())
        .await;

    let client = serve(config(true)).await;
    let arn = create(&client, "probe", "server.asl.json").await;
    let execution = start(&client, &arn, "same", input).await;
    ended(&client, &execution).await;
    let served = all_events(&client, &execution, false, 1000).await;
    let shape = |events: Vec<(i64, i64, String)>| events;
    assert_eq!(
        shape(
            direct
                .events
                .iter()
                .map(|e| (
                    e.id as i64,
                    e.previous_event_id as i64,
                    e.event_type.clone()
                ))
                .collect()
        ),
        shape(
            served
                .iter()
                .map(|e| (e.id, e.previous_event_id, e.r#type.as_str().to_owned()))
                .collect()
        )
    );
    assert!(
        served
            .iter()
            .any(|e| e.r#type == HistoryEventType::LambdaFunctionSucceeded)
    );
}

/// Sends one raw request and returns the status line and the body.
async fn raw(address: SocketAddr, target: &str, body: &str) -> (String, serde_json::Value) {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: {target}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (
        head.lines().next().unwrap().to_owned(),
        serde_json::from_str(body).unwrap(),
    )
}

#[tokio::test]
async fn protocol_errors_are_400_with_aws_type_names() {
    let server = Server::bind(SocketAddr::from(([127, 0, 0, 1], 0)), config(true))
        .await
        .unwrap();
    let address = server.local_addr().unwrap();
    tokio::spawn(server.serve(std::future::pending()));
    let (status, body) = raw(address, "AWSStepFunctions.StartSyncExecution", "{}").await;
    assert_eq!(status, "HTTP/1.1 400 Bad Request");
    assert_eq!(body["__type"], "UnknownOperationException");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("StartSyncExecution")
    );
    let (_, body) = raw(address, "AWSStepFunctions.StartExecution", "{oops").await;
    assert_eq!(body["__type"], "SerializationException");
    let (_, body) = raw(address, "AWSStepFunctions.StartExecution", "{}").await;
    assert_eq!(body["__type"], "ValidationException");
    let (status, body) = raw(address, "AWSStepFunctions.ListStateMachines", "{}").await;
    assert_eq!(
        (status.as_str(), body),
        ("HTTP/1.1 200 OK", json!({"stateMachines": []}))
    );
}

#[tokio::test]
async fn shutting_down_stops_executions_and_kills_the_functions() {
    let server = Server::bind(SocketAddr::from(([127, 0, 0, 1], 0)), config(false))
        .await
        .unwrap();
    let executor = server.executor().clone();
    let client = client(server.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(async {
        let _ = stopped.await;
    }));
    let machine = create(&client, "probe", "server.asl.json").await;
    let warmed = start(
        &client,
        &machine,
        "warm",
        json!({"action": "succeed", "value": 1}),
    )
    .await;
    ended(&client, &warmed).await;
    let pids = executor.warm_function_pids();
    assert_eq!(pids.len(), 1);
    let waiter = create(&client, "waiter", "server-wait.asl.json").await;
    let waiting = start(&client, &waiter, "waiting", json!({})).await;
    until_waiting(&client, &waiting).await;

    let _ = stop.send(());
    serving.await.unwrap();
    assert!(executor.warm_function_pids().is_empty());
    for _ in 0..100 {
        if !Path::new(&format!("/proc/{}", pids[0])).exists() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the function process {} outlived the server", pids[0]);
}

#[tokio::test]
async fn an_integration_in_a_region_without_a_local_endpoint_fails_the_task() {
    let client = serve(config(true)).await;
    let machine = create(&client, "send", "server-sqs.asl.json").await;
    let execution = start(&client, &machine, "nowhere", json!({})).await;
    let description = ended(&client, &execution).await;
    assert_eq!(description.status, ExecutionStatus::Failed);
    let cause = description.cause().unwrap_or_default();
    assert!(
        cause.contains("No local AWS endpoint is configured for region us-east-1"),
        "{cause}"
    );
    let events = all_events(&client, &execution, false, 100).await;
    assert!(
        types(&events).contains(&"TaskFailed".to_owned()),
        "{:?}",
        types(&events)
    );
}

/// Fails on the first run and succeeds once redriven: the Parallel state
/// reads `$$.Execution.RedriveCount`.
const FAILS_UNTIL_REDRIVEN: &str = r#"{
  "StartAt": "Start",
  "States": {
    "Start": {"Type": "Pass", "Next": "Guarded"},
    "Guarded": {"Type": "Parallel", "End": true, "Branches": [{
      "StartAt": "Redriven?",
      "States": {
        "Redriven?": {"Type": "Choice", "Choices": [
          {"Variable": "$$.Execution.RedriveCount", "NumericGreaterThan": 0, "Next": "Done"}
        ], "Default": "Boom"},
        "Boom": {"Type": "Fail", "Error": "Boom", "Cause": "not redriven yet"},
        "Done": {"Type": "Succeed"}
      }
    }]}
  }
}"#;

#[tokio::test]
async fn a_failed_execution_is_redriven_from_the_state_that_failed() {
    let client = serve(config(true)).await;
    let machine = client
        .create_state_machine()
        .name("redrive")
        .definition(FAILS_UNTIL_REDRIVEN)
        .role_arn(ROLE)
        .send()
        .await
        .expect("create")
        .state_machine_arn;
    let execution = start(&client, &machine, "once", json!({"keep": 1})).await;
    let failed = ended(&client, &execution).await;
    assert_eq!(failed.status, ExecutionStatus::Failed);
    assert_eq!(failed.redrive_count, Some(0));
    assert_eq!(
        failed.redrive_status.as_ref().map(|s| s.as_str()),
        Some("REDRIVABLE")
    );

    client
        .redrive_execution()
        .execution_arn(&execution)
        .send()
        .await
        .expect("redrive");
    let redriven = ended(&client, &execution).await;
    assert_eq!(redriven.status, ExecutionStatus::Succeeded, "{redriven:?}");
    assert_eq!(redriven.redrive_count, Some(1));
    assert!(redriven.redrive_date.is_some());

    let events = all_events(&client, &execution, false, 100).await;
    let kinds = types(&events);
    let redrive_at = kinds
        .iter()
        .position(|kind| kind == "ExecutionRedriven")
        .expect("the history records the redrive");
    assert_eq!(kinds.iter().filter(|k| *k == "ExecutionStarted").count(), 1);
    assert_eq!(kinds[redrive_at + 1], "ParallelStateEntered", "{kinds:?}");
    assert_eq!(kinds.last().map(String::as_str), Some("ExecutionSucceeded"));
    assert!(
        events.windows(2).all(|pair| pair[1].id == pair[0].id + 1),
        "the history goes on with the next ids"
    );

    let again = client
        .redrive_execution()
        .execution_arn(&execution)
        .send()
        .await
        .expect_err("a succeeded execution cannot be redriven");
    assert!(
        again.into_service_error().is_execution_not_redrivable(),
        "ExecutionNotRedrivable"
    );
}

/// Calls the probe with the task token, then waits for the token's answer.
const WAITS_FOR_A_TOKEN: &str = r#"{
  "StartAt": "Ask",
  "States": {
    "Ask": {
      "Type": "Task",
      "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
      "Parameters": {"FunctionName": "probe", "Payload": {"token.$": "$$.Task.Token"}},
      "HeartbeatSeconds": 2,
      "ResultPath": "$.answer",
      "End": true
    }
  }
}"#;

/// Polls the history until the Task has submitted its work, and gives the
/// token it passed to the function.
async fn submitted_token(client: &Client, execution: &str) -> String {
    for _ in 0..200 {
        let events = all_events(client, execution, false, 100).await;
        if types(&events).iter().any(|kind| kind == "TaskSubmitted") {
            let scheduled = events
                .iter()
                .find_map(|event| event.task_scheduled_event_details())
                .expect("TaskScheduled");
            let parameters: serde_json::Value =
                serde_json::from_str(scheduled.parameters()).expect("parameters are JSON");
            return parameters["Payload"]["token"]
                .as_str()
                .expect("the token reached the function")
                .to_owned();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{execution} never submitted its task");
}

#[tokio::test]
async fn a_task_waits_for_its_token_and_takes_the_answer_it_is_sent() {
    let client = serve(config(false)).await;
    let machine = client
        .create_state_machine()
        .name("waits")
        .definition(WAITS_FOR_A_TOKEN)
        .role_arn(ROLE)
        .send()
        .await
        .expect("create")
        .state_machine_arn;

    let approved = start(&client, &machine, "approved", json!({"ask": "may I?"})).await;
    let token = submitted_token(&client, &approved).await;
    client
        .send_task_heartbeat()
        .task_token(&token)
        .send()
        .await
        .expect("heartbeat");
    client
        .send_task_success()
        .task_token(&token)
        .output(json!({"approved": true}).to_string())
        .send()
        .await
        .expect("success");
    let done = ended(&client, &approved).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    let output: serde_json::Value = serde_json::from_str(done.output().unwrap()).unwrap();
    assert_eq!(
        output,
        json!({"ask": "may I?", "answer": {"approved": true}})
    );
    let late = client
        .send_task_success()
        .task_token(&token)
        .output("{}")
        .send()
        .await
        .expect_err("the task has ended");
    assert!(late.into_service_error().is_task_does_not_exist());

    let rejected = start(&client, &machine, "rejected", json!({})).await;
    let token = submitted_token(&client, &rejected).await;
    client
        .send_task_failure()
        .task_token(&token)
        .error("Rejected")
        .cause("not today")
        .send()
        .await
        .expect("failure");
    let done = ended(&client, &rejected).await;
    assert_eq!(done.status, ExecutionStatus::Failed);
    assert_eq!(done.error(), Some("Rejected"));
    assert_eq!(done.cause(), Some("not today"));

    let unanswered = start(&client, &machine, "unanswered", json!({})).await;
    let done = ended(&client, &unanswered).await;
    assert_eq!(done.status, ExecutionStatus::Failed);
    assert_eq!(done.error(), Some("States.HeartbeatTimeout"));
}
