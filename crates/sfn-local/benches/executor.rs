//! Benchmarks of the executor, with plain std timing: transitions per second
//! of a long Pass/Choice loop, and the overhead of a warm Lambda task (a
//! one-Task execution on a warm environment, less a one-Pass execution),
//! and through the Step Functions endpoint, the time from sending
//! `StartExecution` to the first Lambda invocation (`LambdaFunctionStarted`).
//!
//! Run with `cargo bench -p sfn-local`. The Lambda part needs the
//! `test-function` example, which `cargo test -p sfn-local` builds.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_sdk_sfn::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sfn::types::{ExecutionStatus, HistoryEventType};
use serde_json::json;
use sfn_local::{Executor, ExecutorConfig, FunctionConfig, Server, StateMachine};

const LOOPS: u64 = 5_000;

fn test_function() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let target = exe.parent()?.parent()?.parent()?;
    // `cargo bench` does not build examples; `cargo test` builds this one
    // in the debug profile, which is as good for measuring the executor.
    ["release", "debug"]
        .iter()
        .map(|profile| target.join(profile).join("examples").join("test-function"))
        .find(|p| p.exists())
}

async fn transitions_per_second() {
    let definition = json!({
        "StartAt": "Count",
        "States": {
            "Count": {"Type": "Pass", "Parameters": {"i.$": "States.MathAdd($.i, 1)", "limit.$": "$.limit"}, "Next": "Check"},
            "Check": {"Type": "Choice", "Choices": [{"Variable": "$.i", "NumericLessThanPath": "$.limit", "Next": "Count"}], "Default": "Done"},
            "Done": {"Type": "Succeed"}
        }
    });
    let machine =
        StateMachine::new("Loop", &definition.to_string(), &HashMap::new()).expect("valid");
    let executor = Executor::new(ExecutorConfig {
        virtual_time: true,
        ..ExecutorConfig::default()
    });
    let started = Instant::now();
    let result = executor
        .run_to_completion(&machine, None, json!({"i": 0, "limit": LOOPS}))
        .await;
    let elapsed = started.elapsed();
    assert_eq!(result.output(), Some(json!({"i": LOOPS, "limit": LOOPS})));
    let transitions = 2 * LOOPS + 1;
    println!(
        "pass/choice loop: {transitions} transitions, {} events in {:.3} s = {:.0} transitions/s",
        result.events.len(),
        elapsed.as_secs_f64(),
        transitions as f64 / elapsed.as_secs_f64()
    );
}

async fn mean_execution(executor: &Executor, machine: &StateMachine, runs: u32) -> Duration {
    let started = Instant::now();
    for _ in 0..runs {
        let result = executor
            .run_to_completion(machine, None, json!({"action": "succeed"}))
            .await;
        assert!(result.output().is_some(), "{:?}", result.description);
    }
    started.elapsed() / runs
}

async fn warm_lambda_overhead(binary: PathBuf) {
    let executor = Executor::new(ExecutorConfig {
        functions: vec![FunctionConfig::new("probe", binary)],
        virtual_time: true,
        ..ExecutorConfig::default()
    });
    let task = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:probe", "End": true}}});
    let pass = json!({"StartAt": "T", "States": {"T": {"Type": "Pass", "End": true}}});
    let task = StateMachine::new("Task", &task.to_string(), &HashMap::new()).expect("valid");
    let pass = StateMachine::new("Pass", &pass.to_string(), &HashMap::new()).expect("valid");
    // The first run starts the environment; every later one finds it warm.
    mean_execution(&executor, &task, 1).await;
    let runs = 300;
    let with_task = mean_execution(&executor, &task, runs).await;
    let baseline = mean_execution(&executor, &pass, runs).await;
    let reports = executor.lambda_reports();
    let cold = reports
        .first()
        .and_then(|r| r.init_duration_ms)
        .unwrap_or_default();
    let warm_in_function: f64 =
        reports.iter().skip(1).map(|r| r.duration_ms).sum::<f64>() / (reports.len() - 1) as f64;
    println!(
        "warm lambda task: {:.3} ms per execution vs {:.3} ms for a Pass: {:.3} ms overhead per warm invocation \
         ({:.3} ms of it between the event's delivery and the answer); cold init {:.1} ms",
        with_task.as_secs_f64() * 1000.0,
        baseline.as_secs_f64() * 1000.0,
        (with_task.saturating_sub(baseline)).as_secs_f64() * 1000.0,
        warm_in_function,
        cold
    );
}

/// Milliseconds from sending `StartExecution` to the execution's
/// `LambdaFunctionStarted` (the invocation is handed to the function right
/// after it), on a warm environment, and the StartExecution round trip.
async fn served_start_to_invoke(binary: PathBuf) {
    let config = ExecutorConfig {
        functions: vec![FunctionConfig::new("probe", binary)],
        virtual_time: true,
        ..ExecutorConfig::default()
    };
    let server = Server::bind(([127, 0, 0, 1], 0).into(), config)
        .await
        .expect("bind");
    let sdk = aws_sdk_sfn::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(format!("http://{}", server.local_addr().expect("address")))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "bench"))
        .build();
    let client = aws_sdk_sfn::Client::from_conf(sdk);
    tokio::spawn(server.serve(std::future::pending()));
    let task = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:probe", "End": true}}});
    let machine = client
        .create_state_machine()
        .name("Task")
        .definition(task.to_string())
        .role_arn("arn:aws:iam::123456789012:role/sfn-local")
        .send()
        .await
        .expect("create")
        .state_machine_arn;
    // The first run starts the environment; every later one finds it warm.
    let runs = 100;
    let mut to_invoke = Vec::new();
    let mut round_trip = Duration::ZERO;
    for run in 0..=runs {
        let sent_at = chrono::Utc::now();
        let sent = Instant::now();
        let execution = client
            .start_execution()
            .state_machine_arn(&machine)
            .send()
            .await
            .expect("start")
            .execution_arn;
        round_trip += sent.elapsed();
        let invoked = invoked_at(&client, &execution).await;
        if run > 0 {
            to_invoke.push(invoked - sent_at.timestamp_micros() as f64 / 1000.0);
        }
    }
    to_invoke.sort_by(f64::total_cmp);
    println!(
        "served StartExecution -> first Lambda invoke (warm): mean {:.2} ms, median {:.2} ms over {runs} runs \
         (history timestamps are whole milliseconds); StartExecution round trip {:.3} ms",
        to_invoke.iter().sum::<f64>() / runs as f64,
        to_invoke[runs / 2],
        round_trip.as_secs_f64() * 1000.0 / (runs + 1) as f64,
    );
}

/// When (ms since the epoch) the execution's Lambda task started, once
/// the execution has succeeded.
async fn invoked_at(client: &aws_sdk_sfn::Client, execution: &str) -> f64 {
    for _ in 0..1000 {
        let described = client
            .describe_execution()
            .execution_arn(execution)
            .send()
            .await
            .expect("describe");
        if described.status == ExecutionStatus::Succeeded {
            let history = client
                .get_execution_history()
                .execution_arn(execution)
                .send()
                .await
                .expect("history");
            let started = history
                .events
                .iter()
                .find(|e| e.r#type == HistoryEventType::LambdaFunctionStarted);
            return started
                .expect("LambdaFunctionStarted")
                .timestamp
                .as_secs_f64()
                * 1000.0;
        }
        assert_eq!(described.status, ExecutionStatus::Running, "{described:?}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("{execution} did not succeed within 1000 polls");
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(transitions_per_second());
    match test_function() {
        Some(binary) => {
            runtime.block_on(warm_lambda_overhead(binary.clone()));
            runtime.block_on(served_start_to_invoke(binary));
        }
        None => println!("warm lambda task: skipped, the test-function example is not built"),
    }
}
