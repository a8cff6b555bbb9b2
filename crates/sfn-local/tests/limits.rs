//! Step Functions' limits that keep a runaway definition bounded: an
//! execution that loops forever ends at the history quota, its memory
//! bounded by the quota, and no state passes on more than 256 KiB.

use std::collections::HashMap;

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
