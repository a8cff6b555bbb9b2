//! Nested executions end to end: a parent machine whose Task starts a child
//! machine on the same `Server` (`arn:aws:states:::states:startExecution`,
//! plain and `.sync:2`), driven by the real `aws-sdk-sfn` client, with the
//! results and history events AWS gives: the child's ARN and start date
//! for the plain form; the child's description with its output as JSON,
//! or `States.TaskFailed` with the description as the cause, for
//! `.sync:2`; the task token passed to a child for `.waitForTaskToken`;
//! a stopped parent stops its `.sync` child; a machine that
//! does not exist is `StepFunctions.StateMachineDoesNotExistException`;
//! and without a Step Functions endpoint the Task fails without reaching
//! AWS. Unknown intrinsic functions are refused by `CreateStateMachine`.
//!
//! Every wait is a bounded poll: no test depends on how fast the machine is.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use aws_sdk_sfn::Client;
use aws_sdk_sfn::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput;
use aws_sdk_sfn::types::{ExecutionStatus, HistoryEvent};
use serde_json::{Value, json};
use sfn_local::{Executor, ExecutorConfig, Server, StateMachine};

const ROLE: &str = "arn:aws:iam::123456789012:role/sfn-local";
const CHILD_EXECUTIONS: &str = "arn:aws:states:us-east-1:123456789012:execution:child";

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A server on a free port, serving until the test's runtime ends, and an
/// SDK client for it. The server is its own Step Functions endpoint.
async fn serve(virtual_time: bool) -> Client {
    let config = ExecutorConfig {
        virtual_time,
        ..ExecutorConfig::default()
    };
    let server = Server::bind(SocketAddr::from(([127, 0, 0, 1], 0)), config)
        .await
        .expect("bind");
    let address = server.local_addr().expect("address");
    tokio::spawn(server.serve(std::future::pending()));
    let config = aws_sdk_sfn::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(format!("http://{address}"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .build();
    Client::from_conf(config)
}

async fn create(client: &Client, name: &str, definition: String) -> String {
    client
        .create_state_machine()
        .name(name)
        .definition(definition)
        .role_arn(ROLE)
        .send()
        .await
        .expect("create")
        .state_machine_arn
}

/// The parent machine, starting `child` through `resource`.
async fn create_parent(client: &Client, resource: &str, child: &str) -> String {
    let definition = fixture("nested-parent.asl.json")
        .replace("${Resource}", resource)
        .replace("${ChildArn}", child);
    create(client, "parent", definition).await
}

async fn start(client: &Client, machine: &str, input: Value) -> String {
    client
        .start_execution()
        .state_machine_arn(machine)
        .name("parent-run")
        .input(input.to_string())
        .send()
        .await
        .expect("start")
        .execution_arn
}

async fn describe(client: &Client, execution: &str) -> DescribeExecutionOutput {
    client
        .describe_execution()
        .execution_arn(execution)
        .send()
        .await
        .expect("describe")
}

/// Polls DescribeExecution until the execution has ended, at most 200
/// times 50 ms apart.
async fn ended(client: &Client, execution: &str) -> DescribeExecutionOutput {
    for _ in 0..200 {
        let description = describe(client, execution).await;
        if description.status != ExecutionStatus::Running {
            return description;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{execution} did not end within 200 polls");
}

async fn history(client: &Client, execution: &str) -> Vec<HistoryEvent> {
    client
        .get_execution_history()
        .execution_arn(execution)
        .max_results(1000)
        .send()
        .await
        .expect("history")
        .events
}

fn types(events: &[HistoryEvent]) -> Vec<&str> {
    events.iter().map(|e| e.r#type.as_str()).collect()
}

fn output(description: &DescribeExecutionOutput) -> Value {
    serde_json::from_str(description.output().expect("an output")).expect("JSON output")
}

fn seconds(event: &HistoryEvent) -> f64 {
    event.timestamp.as_secs_f64()
}

#[tokio::test]
async fn start_execution_gives_the_child_arn_and_start_date_without_waiting() {
    let client = serve(true).await;
    let child = create(&client, "child", fixture("nested-child.asl.json")).await;
    let parent = create_parent(&client, "arn:aws:states:::states:startExecution", &child).await;
    let run = start(&client, &parent, json!({"child": "kid-1", "name": "Ada"})).await;
    let description = ended(&client, &run).await;
    assert_eq!(
        description.status,
        ExecutionStatus::Succeeded,
        "{description:?}"
    );
    let result = output(&description);
    assert_eq!(result["ExecutionArn"], format!("{CHILD_EXECUTIONS}:kid-1"));
    assert!(
        result["StartDate"].as_i64().is_some_and(|ms| ms > 0),
        "{result}"
    );
    assert_eq!(result["SdkHttpMetadata"]["HttpStatusCode"], 200);
    let events = history(&client, &run).await;
    assert_eq!(
        types(&events),
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskSucceeded",
            "TaskStateExited",
            "ExecutionSucceeded"
        ]
    );
    let scheduled = events[2].task_scheduled_event_details().unwrap();
    assert_eq!(
        (scheduled.resource_type(), scheduled.resource()),
        ("states", "startExecution")
    );
    let parameters: Value = serde_json::from_str(scheduled.parameters()).unwrap();
    assert_eq!(parameters["Input"], json!({"name": "Ada"}));
    // The child runs on by itself, with the input the parent gave it.
    let child_run = ended(&client, &format!("{CHILD_EXECUTIONS}:kid-1")).await;
    assert_eq!(child_run.status, ExecutionStatus::Succeeded);
    assert_eq!(output(&child_run), json!({"greeting": "hello Ada"}));
}

#[tokio::test]
async fn sync_2_waits_for_the_child_and_gives_its_description_with_json_output() {
    let client = serve(true).await;
    let child = create(&client, "child", fixture("nested-child.asl.json")).await;
    let parent = create_parent(
        &client,
        "arn:aws:states:::states:startExecution.sync:2",
        &child,
    )
    .await;
    let run = start(&client, &parent, json!({"child": "kid-2", "name": "Ada"})).await;
    let description = ended(&client, &run).await;
    assert_eq!(
        description.status,
        ExecutionStatus::Succeeded,
        "{description:?}"
    );
    let result = output(&description);
    assert_eq!(result["Output"], json!({"greeting": "hello Ada"}));
    assert_eq!(result["Input"], json!({"name": "Ada"}));
    assert_eq!(result["Status"], "SUCCEEDED");
    assert_eq!(result["ExecutionArn"], format!("{CHILD_EXECUTIONS}:kid-2"));
    assert_eq!(result["StateMachineArn"], child);
    assert_eq!(result["OutputDetails"], json!({"Included": true}));
    let (start, stop) = (result["StartDate"].as_i64(), result["StopDate"].as_i64());
    assert!(
        start.zip(stop).is_some_and(|(a, b)| b - a >= 600_000),
        "{result}"
    );

    let events = history(&client, &run).await;
    assert_eq!(
        types(&events),
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskSubmitted",
            "TaskSucceeded",
            "TaskStateExited",
            "ExecutionSucceeded"
        ]
    );
    let submitted = events[4].task_submitted_event_details().unwrap();
    assert_eq!(submitted.resource(), "startExecution.sync:2");
    let answer: Value = serde_json::from_str(submitted.output().unwrap()).unwrap();
    assert_eq!(answer["ExecutionArn"], format!("{CHILD_EXECUTIONS}:kid-2"));
    assert_eq!(events[4].previous_event_id, events[3].id);
    assert_eq!(events[5].previous_event_id, events[4].id);
    // The child waited ten minutes on the virtual clock, and so did the
    // parent's Task.
    assert!(seconds(&events[5]) - seconds(&events[4]) >= 600.0);
}

#[tokio::test]
async fn sync_keeps_the_child_input_and_output_as_json_text() {
    let client = serve(true).await;
    let child = create(&client, "child", fixture("nested-child.asl.json")).await;
    let parent = create_parent(
        &client,
        "arn:aws:states:::states:startExecution.sync",
        &child,
    )
    .await;
    let run = start(&client, &parent, json!({"child": "kid-3", "name": "Bo"})).await;
    let description = ended(&client, &run).await;
    assert_eq!(description.status, ExecutionStatus::Succeeded);
    let result = output(&description);
    let text = result["Output"].as_str().expect("the output as text");
    assert_eq!(
        serde_json::from_str::<Value>(text).unwrap(),
        json!({"greeting": "hello Bo"})
    );
}

#[tokio::test]
async fn wait_for_task_token_starts_the_child_and_waits_for_the_answer() {
    let client = serve(true).await;
    let child = create(&client, "child", fixture("nested-child-fails.asl.json")).await;
    let definition = fixture("nested-parent-callback.asl.json").replace("${ChildArn}", &child);
    let parent = create(&client, "parent", definition).await;
    let run = start(&client, &parent, json!({"child": "kid-7"})).await;
    let child_run = ended(&client, &format!("{CHILD_EXECUTIONS}:kid-7")).await;
    let input: Value = serde_json::from_str(child_run.input().unwrap()).unwrap();
    let token = input["token"].as_str().expect("the task token");
    client
        .send_task_success()
        .task_token(token)
        .output(r#"{"answered":true}"#)
        .send()
        .await
        .expect("answer");
    let description = ended(&client, &run).await;
    assert_eq!(description.status, ExecutionStatus::Succeeded);
    assert_eq!(output(&description), json!({"answered": true}));
    let events = history(&client, &run).await;
    let submitted = events
        .iter()
        .find_map(|e| e.task_submitted_event_details())
        .expect("TaskSubmitted");
    assert_eq!(submitted.resource(), "startExecution.waitForTaskToken");
}

#[tokio::test]
async fn a_failed_child_fails_a_sync_2_task_with_states_task_failed() {
    let client = serve(true).await;
    let child = create(&client, "child", fixture("nested-child-fails.asl.json")).await;
    let parent = create_parent(
        &client,
        "arn:aws:states:::states:startExecution.sync:2",
        &child,
    )
    .await;
    let run = start(&client, &parent, json!({"child": "kid-4", "name": "Cy"})).await;
    let description = ended(&client, &run).await;
    assert_eq!(description.status, ExecutionStatus::Failed);
    assert_eq!(description.error(), Some("States.TaskFailed"));
    let cause: Value = serde_json::from_str(description.cause().unwrap()).unwrap();
    assert_eq!(cause["Status"], "FAILED");
    assert_eq!(cause["Error"], "ChildError");
    assert_eq!(cause["Cause"], "the child refused");
    assert_eq!(cause["ExecutionArn"], format!("{CHILD_EXECUTIONS}:kid-4"));
    let events = history(&client, &run).await;
    let failed = events
        .iter()
        .find_map(|e| e.task_failed_event_details())
        .expect("TaskFailed");
    assert_eq!(failed.error(), Some("States.TaskFailed"));
    assert_eq!(failed.resource(), "startExecution.sync:2");
}

#[tokio::test]
async fn stopping_the_parent_stops_its_sync_child() {
    let client = serve(false).await;
    let child = create(&client, "child", fixture("server-wait.asl.json")).await;
    let parent = create_parent(
        &client,
        "arn:aws:states:::states:startExecution.sync:2",
        &child,
    )
    .await;
    let run = start(&client, &parent, json!({"child": "kid-5", "name": "Di"})).await;
    let child_run = format!("{CHILD_EXECUTIONS}:kid-5");
    let mut started = false;
    for _ in 0..200 {
        let listed = client
            .list_executions()
            .state_machine_arn(&child)
            .send()
            .await
            .expect("list");
        if listed
            .executions
            .iter()
            .any(|e| e.execution_arn == child_run)
        {
            started = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(started, "the child never started");
    client
        .stop_execution()
        .execution_arn(&run)
        .send()
        .await
        .expect("stop");
    assert_eq!(ended(&client, &run).await.status, ExecutionStatus::Aborted);
    assert_eq!(
        ended(&client, &child_run).await.status,
        ExecutionStatus::Aborted
    );
}

#[tokio::test]
async fn a_child_machine_that_does_not_exist_is_a_typed_task_failure() {
    let client = serve(true).await;
    let missing = "arn:aws:states:us-east-1:123456789012:stateMachine:nobody";
    let parent = create_parent(&client, "arn:aws:states:::states:startExecution", missing).await;
    let run = start(&client, &parent, json!({"child": "kid-6", "name": "Ed"})).await;
    let description = ended(&client, &run).await;
    assert_eq!(description.status, ExecutionStatus::Failed);
    assert_eq!(
        description.error(),
        Some("StepFunctions.StateMachineDoesNotExistException"),
        "{description:?}"
    );
}

#[tokio::test]
async fn create_state_machine_refuses_an_unknown_intrinsic_by_name_and_place() {
    let client = serve(true).await;
    let definition = json!({"StartAt": "S", "States": {"S": {
        "Type": "Pass", "Parameters": {"a.$": "States.Nope($.x)"}, "End": true}}});
    let error = client
        .create_state_machine()
        .name("bad")
        .definition(definition.to_string())
        .role_arn(ROLE)
        .send()
        .await
        .expect_err("refused")
        .into_service_error();
    assert!(error.is_invalid_definition(), "{error:?}");
    let message = error.meta().message().unwrap_or_default();
    assert!(message.contains("SCHEMA_VALIDATION_FAILED"), "{message}");
    assert!(message.contains("States.Nope"), "{message}");
    assert!(message.contains("at /States/S/Parameters"), "{message}");
}

#[tokio::test]
async fn without_a_step_functions_endpoint_the_task_fails_and_reaches_nothing() {
    let executor = Executor::new(ExecutorConfig {
        virtual_time: true,
        ..ExecutorConfig::default()
    });
    for resource in [
        "arn:aws:states:::states:startExecution",
        "arn:aws:states:::states:startExecution.sync:2",
    ] {
        let definition = fixture("nested-parent.asl.json")
            .replace("${Resource}", resource)
            .replace(
                "${ChildArn}",
                "arn:aws:states:us-east-1:123456789012:stateMachine:child",
            );
        let machine = StateMachine::new("parent", &definition, &HashMap::new()).unwrap();
        let result = executor
            .run_to_completion(&machine, None, json!({"child": "c", "name": "n"}))
            .await;
        let description = &result.description;
        assert_eq!(description.error.as_deref(), Some("States.Runtime"));
        assert!(
            description
                .cause
                .as_deref()
                .is_some_and(|c| c.contains("No Step Functions endpoint is configured")),
            "{description:?}"
        );
        let types: Vec<&str> = result
            .events
            .iter()
            .map(|e| e.event_type.as_str())
            .collect();
        assert!(types.contains(&"TaskFailed"), "{types:?}");
        assert!(!types.contains(&"TaskSubmitted"), "{types:?}");
    }
}
