//! Lambda tasks against a real function binary (the `test-function`
//! example, built with `lambda_runtime` like Moat's functions) behind the
//! local Runtime API: success, a typed error, a panic, a crash, the function
//! timeout, the state's TimeoutSeconds, cold then warm environments, the
//! `lambda:invoke` output shape and process cleanup.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use sfn_local::{
    ExecutionResult, ExecutionStatus, Executor, ExecutorConfig, FunctionConfig, StateMachine,
};

const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:probe";

/// The example binary Cargo builds next to the test executables.
fn test_function() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let debug = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target directory");
    let path = debug.join("examples").join("test-function");
    assert!(path.exists(), "build the example first: {}", path.display());
    path
}

fn executor(timeout: Duration) -> Executor {
    let function = FunctionConfig::new("probe", test_function())
        .timeout(timeout)
        .memory_mb(256)
        .env("MOAT_SETTING", "on");
    Executor::new(ExecutorConfig {
        functions: vec![function],
        virtual_time: true,
        ..ExecutorConfig::default()
    })
}

fn machine(definition: Value) -> StateMachine {
    let subs = HashMap::from([("ProbeArn".to_owned(), ARN.to_owned())]);
    StateMachine::new("LambdaTest", &definition.to_string(), &subs).expect("valid definition")
}

fn direct_task() -> StateMachine {
    machine(
        json!({"StartAt": "Probe", "States": {"Probe": {"Type": "Task", "Resource": "${ProbeArn}", "End": true}}}),
    )
}

fn event_types(result: &ExecutionResult) -> Vec<String> {
    result.events.iter().map(|e| e.event_type.clone()).collect()
}

/// The details of the first event of this type.
fn first_details<'a>(result: &'a ExecutionResult, event_type: &str) -> &'a Value {
    result
        .events
        .iter()
        .find(|e| e.event_type == event_type)
        .and_then(|e| e.details.as_ref())
        .unwrap_or_else(|| panic!("no {event_type} event with details"))
}

/// Whether the process `pid` is gone within five seconds; a killed process
/// is reaped by its watcher shortly after the kill.
async fn exits_soon(pid: u64) -> bool {
    for _ in 0..50 {
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn a_warm_environment_is_reused_and_reports_no_init_duration() {
    let executor = executor(Duration::from_secs(5));
    let first = executor
        .run_to_completion(
            &direct_task(),
            None,
            json!({"action": "succeed", "value": 1}),
        )
        .await;
    let second = executor
        .run_to_completion(
            &direct_task(),
            None,
            json!({"action": "succeed", "value": 2}),
        )
        .await;
    assert_eq!(
        first.description.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        first.description
    );
    let (a, b) = (first.output().unwrap(), second.output().unwrap());
    assert_eq!(a["echo"], 1);
    assert_eq!(a["warmth"]["cold"], true);
    assert_eq!(b["warmth"]["cold"], false);
    assert_eq!(
        a["warmth"]["pid"], b["warmth"]["pid"],
        "the same process served both"
    );
    assert_eq!(
        event_types(&first),
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "LambdaFunctionScheduled",
            "LambdaFunctionStarted",
            "LambdaFunctionSucceeded",
            "TaskStateExited",
            "ExecutionSucceeded"
        ]
    );
    let reports = executor.lambda_reports();
    assert_eq!(reports.len(), 2);
    assert!(
        reports[0].init_duration_ms.is_some(),
        "a cold start records its init duration"
    );
    assert!(
        reports[1].init_duration_ms.is_none(),
        "a warm start has none"
    );
    assert_eq!(reports[0].memory_size_mb, 256);
    assert!(reports[0].max_memory_used_mb > 0);
    assert_eq!(
        executor.warm_function_pids(),
        vec![a["warmth"]["pid"].as_u64().unwrap() as u32]
    );
}

#[tokio::test]
async fn a_typed_error_becomes_the_task_error_with_the_error_object_as_cause() {
    let executor = executor(Duration::from_secs(5));
    let result = executor
        .run_to_completion(
            &direct_task(),
            None,
            json!({"action": "fail", "errorType": "GroupNotFound", "message": "sg-0abc is gone"}),
        )
        .await;
    assert_eq!(result.description.status, ExecutionStatus::Failed);
    assert_eq!(result.description.error.as_deref(), Some("GroupNotFound"));
    assert_eq!(
        result.description.cause.as_deref(),
        Some(r#"{"errorMessage":"sg-0abc is gone","errorType":"GroupNotFound"}"#)
    );
    let failed = first_details(&result, "LambdaFunctionFailed");
    assert_eq!(failed["error"], "GroupNotFound");
}

#[tokio::test]
async fn a_panic_is_a_function_error_and_the_environment_survives() {
    let executor = executor(Duration::from_secs(5));
    let result = executor
        .run_to_completion(&direct_task(), None, json!({"action": "panic"}))
        .await;
    assert_eq!(result.description.status, ExecutionStatus::Failed);
    let error = result.description.error.clone().unwrap();
    assert_ne!(
        error, "Lambda.Unknown",
        "lambda_runtime reports panics through /error"
    );
    assert!(
        result
            .description
            .cause
            .as_deref()
            .unwrap()
            .contains("panicked on purpose"),
        "{:?}",
        result.description.cause
    );
    let after = executor
        .run_to_completion(&direct_task(), None, json!({"action": "succeed"}))
        .await;
    assert_eq!(after.output().unwrap()["warmth"]["cold"], false);
}

#[tokio::test]
async fn a_crashed_process_is_lambda_unknown() {
    let executor = executor(Duration::from_secs(5));
    let result = executor
        .run_to_completion(&direct_task(), None, json!({"action": "exit"}))
        .await;
    assert_eq!(result.description.error.as_deref(), Some("Lambda.Unknown"));
    assert!(
        result
            .description
            .cause
            .as_deref()
            .unwrap()
            .contains("Runtime.ExitError")
    );
    assert!(
        executor.warm_function_pids().is_empty(),
        "a crashed environment is not reused"
    );
}

#[tokio::test]
async fn the_function_timeout_kills_the_process_and_is_sandbox_timedout() {
    let executor = executor(Duration::from_secs(1));
    let task = machine(json!({"StartAt": "Probe", "States": {"Probe": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "${ProbeArn}", "Payload": {"action": "env"}}, "Next": "Sleep"},
        "Sleep": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "probe", "Payload": {"action": "sleep", "seconds": 30}}, "End": true}}}));
    let result = executor.run_to_completion(&task, None, json!({})).await;
    assert_eq!(
        result.description.error.as_deref(),
        Some("Sandbox.Timedout"),
        "{:?}",
        result.description
    );
    assert!(
        result
            .description
            .cause
            .as_deref()
            .unwrap()
            .contains("Task timed out after 1.00 seconds")
    );
    let pid = result
        .events
        .iter()
        .find(|e| e.event_type == "TaskSucceeded")
        .and_then(|e| serde_json::from_str::<Value>(e.details.as_ref()?["output"].as_str()?).ok())
        .map(|o| o["Payload"]["warmth"]["pid"].as_u64().unwrap())
        .expect("the first task succeeded");
    assert!(exits_soon(pid).await, "process {pid} outlived its timeout");
    let failed = first_details(&result, "TaskFailed");
    assert_eq!(failed["resourceType"], "lambda");
    assert_eq!(failed["resource"], "invoke");
}

#[tokio::test]
async fn timeout_seconds_on_the_state_is_states_timeout() {
    let executor = executor(Duration::from_secs(30));
    let task = machine(json!({"StartAt": "Probe", "States": {"Probe": {
        "Type": "Task", "Resource": "${ProbeArn}", "TimeoutSeconds": 1,
        "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "Caught"}], "End": true},
        "Caught": {"Type": "Pass", "End": true}}}));
    let result = executor
        .run_to_completion(&task, None, json!({"action": "sleep", "seconds": 20}))
        .await;
    assert_eq!(result.output(), Some(json!({"Error": "States.Timeout"})));
    assert!(event_types(&result).contains(&"LambdaFunctionTimedOut".to_owned()));
}

#[tokio::test]
async fn lambda_invoke_has_aws_output_shape_and_the_function_gets_its_environment() {
    let executor = executor(Duration::from_secs(7));
    let task = machine(json!({"StartAt": "Probe", "States": {"Probe": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "${ProbeArn}", "Payload": {"action": "env"}},
        "ResultSelector": {"env.$": "$.Payload.env", "arn.$": "$.Payload.functionArn", "status.$": "$.StatusCode", "version.$": "$.ExecutedVersion"},
        "End": true}}}));
    let result = executor.run_to_completion(&task, None, json!({})).await;
    let output = result.output().expect("succeeded");
    assert_eq!(output["status"], 200);
    assert_eq!(output["version"], "$LATEST");
    assert_eq!(output["arn"], ARN);
    let env = &output["env"];
    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "probe");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "256");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_TIMEOUT"], "7");
    assert_eq!(env["AWS_REGION"], "us-east-1");
    assert_eq!(env["MOAT_SETTING"], "on");
    assert!(
        env["AWS_LAMBDA_RUNTIME_API"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    let details = first_details(&result, "TaskScheduled");
    assert_eq!(details["resourceType"], "lambda");
    assert_eq!(details["resource"], "invoke");
    assert_eq!(details["region"], "us-east-1");
}

#[tokio::test]
async fn retries_reach_a_flaky_function_again_and_count_in_the_context() {
    let executor = executor(Duration::from_secs(5));
    let task = machine(json!({"StartAt": "Probe", "States": {"Probe": {
        "Type": "Task", "Resource": "${ProbeArn}",
        "Parameters": {"action": "fail-until", "attempts": 3, "retry.$": "$$.State.RetryCount"},
        "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 30, "MaxAttempts": 5}], "End": true}}}));
    let result = executor.run_to_completion(&task, None, json!({})).await;
    assert_eq!(result.output(), Some(json!({"succeededOn": 3})));
    let scheduled: Vec<Value> = result
        .events
        .iter()
        .filter(|e| e.event_type == "LambdaFunctionScheduled")
        .map(|e| {
            serde_json::from_str(e.details.as_ref().unwrap()["input"].as_str().unwrap()).unwrap()
        })
        .collect();
    let counts: Vec<&Value> = scheduled.iter().map(|input| &input["retry"]).collect();
    assert_eq!(
        counts,
        [&json!(0), &json!(0), &json!(0)],
        "Parameters are evaluated once, before the first attempt"
    );
    // The virtual clock records 30 s and 60 s of waiting without sleeping them.
    let failed: Vec<_> = result
        .events
        .iter()
        .filter(|e| e.event_type == "LambdaFunctionFailed")
        .collect();
    let retried: Vec<_> = result
        .events
        .iter()
        .filter(|e| e.event_type == "LambdaFunctionScheduled")
        .skip(1)
        .collect();
    let waits: Vec<i64> = failed
        .iter()
        .zip(&retried)
        .map(|(f, r)| (r.timestamp - f.timestamp).num_seconds())
        .collect();
    assert_eq!(waits, [30, 60]);
}

#[tokio::test]
async fn map_iterations_run_concurrently_in_separate_environments() {
    let executor = executor(Duration::from_secs(5));
    let task = machine(json!({"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemSelector": {"action": "sleep", "seconds": 1},
        "ItemProcessor": {"StartAt": "Probe", "States": {"Probe": {"Type": "Task", "Resource": "${ProbeArn}", "End": true}}},
        "End": true}}}));
    let result = executor
        .run_to_completion(&task, None, json!([1, 2, 3]))
        .await;
    assert_eq!(
        result.output(),
        Some(json!([{"slept": 1}, {"slept": 1}, {"slept": 1}]))
    );
    assert_eq!(
        executor.warm_function_pids().len(),
        3,
        "three concurrent invocations need three environments"
    );
}

#[tokio::test]
async fn an_unknown_function_is_resource_not_found() {
    let executor = executor(Duration::from_secs(5));
    let task = machine(json!({"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:missing", "End": true}}}));
    let result = executor.run_to_completion(&task, None, json!({})).await;
    assert_eq!(
        result.description.error.as_deref(),
        Some("Lambda.ResourceNotFoundException")
    );
}

#[tokio::test]
async fn dropping_the_executor_kills_warm_processes() {
    let executor = executor(Duration::from_secs(5));
    let result = executor
        .run_to_completion(&direct_task(), None, json!({}))
        .await;
    let pid = result.output().unwrap()["warmth"]["pid"].as_u64().unwrap();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    drop(executor);
    assert!(exits_soon(pid).await, "process {pid} outlived the executor");
}
