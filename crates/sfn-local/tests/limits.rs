//! Step Functions' limits that keep a runaway definition bounded: an
//! execution that loops forever ends at the history quota or at the
//! machine's `TimeoutSeconds`, whichever it reaches first, its memory
//! bounded by the quota, and no state passes on more than 256 KiB.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;
use sfn_local::{
    ExecutionStatus, Executor, ExecutorConfig, MAX_HISTORY_EVENTS, MAX_PAYLOAD_BYTES, StateMachine,
};

fn machine(definition: serde_json::Value) -> StateMachine {
    StateMachine::new("Runaway", &definition.to_string(), &HashMap::new()).unwrap()
}

#[tokio::test]
async fn a_loop_of_pass_states_fails_at_the_history_quota() {
    let executor = Executor::new(ExecutorConfig {
        virtual_time: true,
        ..ExecutorConfig::default()
    });
    let forever = machine(json!({
        "StartAt": "Again",
        "States": {
            "Again": {"Type": "Pass", "Next": "Check"},
            "Check": {"Type": "Choice", "Choices": [
                {"Variable": "$.stop", "IsPresent": true, "Next": "Done"}
            ], "Default": "Again"},
            "Done": {"Type": "Succeed"}
        }
    }));
    let result = executor.run_to_completion(&forever, None, json!({})).await;
    assert_eq!(result.description.status, ExecutionStatus::Failed);
    assert_eq!(result.description.error.as_deref(), Some("States.Runtime"));
    assert!(
        result
            .description
            .cause
            .as_deref()
            .is_some_and(|cause| cause.contains("maximum number of history events")),
        "{:?}",
        result.description.cause
    );
    assert!(
        result.events.len() <= MAX_HISTORY_EVENTS,
        "{}",
        result.events.len()
    );
    assert!(result.events.len() > MAX_HISTORY_EVENTS - 20);
}

#[tokio::test]
async fn a_state_output_over_256_kib_fails_and_is_not_caught() {
    let executor = Executor::new(ExecutorConfig {
        virtual_time: true,
        ..ExecutorConfig::default()
    });
    let big = "x".repeat(MAX_PAYLOAD_BYTES);
    let machine = machine(json!({
        "StartAt": "Guarded",
        "States": {
            "Guarded": {"Type": "Parallel", "Branches": [{
                "StartAt": "Big",
                "States": {"Big": {"Type": "Pass", "Result": big, "End": true}}
            }], "Catch": [
                {"ErrorEquals": ["States.ALL"], "Next": "Caught"}
            ], "End": true},
            "Caught": {"Type": "Succeed"}
        }
    }));
    let result = executor.run_to_completion(&machine, None, json!({})).await;
    assert_eq!(result.description.status, ExecutionStatus::Failed);
    assert_eq!(
        result.description.error.as_deref(),
        Some("States.DataLimitExceeded")
    );
    let small = machine_with_result("y".repeat(MAX_PAYLOAD_BYTES - 16));
    let result = executor.run_to_completion(&small, None, json!({})).await;
    assert_eq!(result.description.status, ExecutionStatus::Succeeded);
}

fn machine_with_result(result: String) -> StateMachine {
    machine(json!({
        "StartAt": "Fits",
        "States": {"Fits": {"Type": "Pass", "Result": result, "End": true}}
    }))
}

fn virtual_executor() -> Executor {
    Executor::new(ExecutorConfig {
        virtual_time: true,
        ..ExecutorConfig::default()
    })
}

/// A Pass and Choice loop that never ends on its own, with `extra` states
/// between them and the machine's `TimeoutSeconds`.
fn endless(timeout: u64, extra: serde_json::Value) -> StateMachine {
    let mut states = json!({
        "Again": {"Type": "Pass", "Next": "Between"},
        "Check": {"Type": "Choice", "Choices": [
            {"Variable": "$.stop", "IsPresent": true, "Next": "Done"}
        ], "Default": "Again"},
        "Done": {"Type": "Succeed"}
    });
    states["Between"] = extra;
    machine(json!({"TimeoutSeconds": timeout, "StartAt": "Again", "States": states}))
}

/// A bound on real time that only catches a loop that never ends: the
/// loops below end in about a second, and this is far above what a slow,
/// loaded machine takes, so it never fails a run that works.
const LOADED_MACHINE_BOUND_SECONDS: u64 = 120;

fn ended_at(result: &sfn_local::ExecutionResult) -> chrono::Duration {
    let last = result.events.last().expect("events");
    last.timestamp - result.events[0].timestamp
}

#[tokio::test]
async fn a_loop_that_waits_times_out_on_the_virtual_clock_without_sleeping() {
    let wait = json!({"Type": "Wait", "Seconds": 60, "Next": "Check"});
    let started = Instant::now();
    let result = virtual_executor()
        .run_to_completion(&endless(3600, wait), None, json!({}))
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(LOADED_MACHINE_BOUND_SECONDS),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(result.description.status, ExecutionStatus::TimedOut);
    assert_eq!(result.description.error.as_deref(), Some("States.Timeout"));
    let last = result.events.last().expect("events");
    assert_eq!(last.event_type, "ExecutionTimedOut");
    // Sixty waits of a minute fill the hour: the last one is cut short at
    // the deadline, and nothing runs after it.
    let waits = result
        .events
        .iter()
        .filter(|e| e.event_type == "WaitStateEntered")
        .count();
    assert_eq!(waits, 60);
    assert_eq!(
        result.events[result.events.len() - 2].event_type,
        "WaitStateEntered"
    );
    let elapsed = ended_at(&result).num_milliseconds();
    assert!((3_599_000..3_601_000).contains(&elapsed), "{elapsed} ms");
}

#[tokio::test]
async fn a_tight_loop_with_a_long_timeout_ends_at_the_history_quota() {
    let pass = json!({"Type": "Pass", "Next": "Check"});
    let started = Instant::now();
    let result = virtual_executor()
        .run_to_completion(&endless(3600, pass), None, json!({}))
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(LOADED_MACHINE_BOUND_SECONDS),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(result.description.status, ExecutionStatus::Failed);
    assert!(result.events.len() <= MAX_HISTORY_EVENTS);
    assert!(result.events.len() > MAX_HISTORY_EVENTS - 20);
}

#[tokio::test]
async fn a_tight_loop_with_a_short_timeout_ends_at_whichever_limit_comes_first() {
    let pass = json!({"Type": "Pass", "Next": "Check"});
    let started = Instant::now();
    let result = virtual_executor()
        .run_to_completion(&endless(1, pass), None, json!({}))
        .await;
    // A loop that never waits reaches one limit or the other within about
    // a second; either way the history, and so the memory, stays bounded.
    assert!(
        started.elapsed() < Duration::from_secs(LOADED_MACHINE_BOUND_SECONDS),
        "{:?}",
        started.elapsed()
    );
    assert!(result.events.len() <= MAX_HISTORY_EVENTS);
    match result.description.status {
        ExecutionStatus::TimedOut => {
            assert!(ended_at(&result) >= chrono::Duration::seconds(1));
            assert_eq!(
                result.events.last().unwrap().event_type,
                "ExecutionTimedOut"
            );
        }
        ExecutionStatus::Failed => {
            assert!(result.events.len() > MAX_HISTORY_EVENTS - 20);
            assert!(ended_at(&result) < chrono::Duration::seconds(2));
        }
        other => panic!("the loop ended {other:?}"),
    }
}
